"""The checks of test_my_layers.py on the layers with planted bugs: each of these tests fails."""
from minicnn.testing import check_layer
from buggy_layers import ChannelScale, ChannelScaleOverwritingGrad, LeakyReLU
from my_layers import channel_scale_loops

def test_leaky_relu():
    check_layer(LeakyReLU(0.1), (2, 3, 4, 4), torch_module=lambda nn: nn.LeakyReLU(0.1))

def test_channel_scale():
    check_layer(ChannelScale(3), (2, 3, 4, 4), reference=channel_scale_loops)

def test_channel_scale_overwriting_grad():
    check_layer(ChannelScaleOverwritingGrad(3), (2, 3, 4, 4), reference=channel_scale_loops)
