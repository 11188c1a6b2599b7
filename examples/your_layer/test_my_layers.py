from minicnn.testing import check_layer
from my_layers import ChannelScale, LeakyReLU, channel_scale_loops

def test_leaky_relu():
    check_layer(LeakyReLU(0.1), (2, 3, 4, 4), torch_module=lambda nn: nn.LeakyReLU(0.1))

def test_channel_scale():
    check_layer(ChannelScale(3), (2, 3, 4, 4), reference=channel_scale_loops)
