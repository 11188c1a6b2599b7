"""PyTorch eager mode on the CPU (its default threads) or on CUDA (TF32 off)."""
from .contenders import LR, MOMENTUM, Contender, Skip


class PyTorch(Contender):
    """The network is minicnn's, translated by ``minicnn.to_torch`` with its weights copied."""

    def __init__(self, device):
        try:
            import torch
        except ImportError:
            raise Skip("PyTorch is not installed (pip install torch)") from None
        self.torch, self.torch_device = torch, device
        if device == "cuda":
            if not torch.cuda.is_available():
                raise Skip(f"torch {torch.__version__} sees no CUDA GPU (torch.cuda.is_available() is False)")
            # float32 really means float32, as in minicnn and CuPy: no TF32 shortcuts
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
            self.device = "gpu"

    def info(self):
        torch = self.torch
        info = dict(torch=torch.__version__, num_threads=torch.get_num_threads(),
                    num_interop_threads=torch.get_num_interop_threads(),
                    mkldnn=torch.backends.mkldnn.is_available())
        try:         # which vector instructions its CPU kernels use (AVX2, AVX512, ...)
            info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        except AttributeError:
            pass
        if self.torch_device == "cuda":
            info.update(gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda,
                        cudnn=torch.backends.cudnn.version(), tf32=False)
        return info

    def setup(self, network, x, y):
        import minicnn           # only to read minicnn's file and translate it
        torch = self.torch
        self.net = minicnn.to_torch(minicnn.Sequential.load(network), self.torch_device)
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=LR, momentum=MOMENTUM)
        self.x = torch.from_numpy(x).to(self.torch_device)
        self.y = torch.from_numpy(y).to(self.torch_device)

    def set_training(self, mode):
        self.net.train(mode)

    def train_step(self):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.torch.nn.functional.nll_loss(self.net(self.x), self.y)
        loss.backward()         # no input gradient: the images do not require one
        self.optimizer.step()
        return loss.item()      # the loss as a float, as minicnn gives it

    def infer_step(self):
        with self.torch.no_grad():
            self.net(self.x)

    def predict(self, images):
        with self.torch.no_grad():
            return self.net(self.torch.from_numpy(images).to(self.torch_device)).cpu().numpy()

    def sync(self):
        if self.torch_device == "cuda":
            self.torch.cuda.synchronize()

    def free(self):
        self.net = self.optimizer = self.x = self.y = None
        if self.torch_device == "cuda":
            self.torch.cuda.empty_cache()
            self.torch.cuda.reset_peak_memory_stats()

    def device_peak_bytes(self):
        if self.torch_device == "cpu":
            return None
        return int(self.torch.cuda.max_memory_reserved())     # since free()

    def matmul_kernels(self, a, b):
        ta = self.torch.from_numpy(a).to(self.torch_device)
        tb = self.torch.from_numpy(b).to(self.torch_device)
        return {f"torch-{self.torch_device}": (lambda: ta @ tb, self.sync)}
