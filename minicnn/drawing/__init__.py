"""Draw a digit (``DrawingPad``), see what the network sees (``preprocess_drawing``), get a live prediction."""
from .pad import EMPTY_MESSAGE, NO_MODEL_MESSAGE, DrawingPad
from .preprocess import INK_THRESHOLD, MNIST_BOX, MNIST_CENTER_OF_MASS, MNIST_SIZE, center_of_mass, preprocess_drawing

__all__ = ["DrawingPad", "preprocess_drawing", "center_of_mass", "MNIST_CENTER_OF_MASS", "MNIST_SIZE",
           "MNIST_BOX", "INK_THRESHOLD", "NO_MODEL_MESSAGE", "EMPTY_MESSAGE"]
