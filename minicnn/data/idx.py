"""The IDX file format of MNIST and Fashion-MNIST, read with NumPy. A big-endian header, then raw values,
row-major: bytes 0-1 zero, byte 2 a type code (_IDX_DTYPES), byte 3 the number of dimensions D, then D
uint32 sizes. So the 4-byte magic number reads 2049 (0x0801) for labels (uint8, 1 dimension) and 2051
(0x0803) for images (uint8, 3 dimensions: N, rows, cols).
"""
import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

LABELS_MAGIC = 2049   # uint8, (N,)
IMAGES_MAGIC = 2051   # uint8, (N, rows, cols)
MAX_BYTES = 1 << 30   # MNIST's largest file holds 47 MB: a header that announces more than 1 GiB is refused

_IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path, expected_magic=None):
    """One IDX file (gzip-compressed if its name ends in .gz) as an array of the header's shape, in
    native byte order: uint8 (N,) for labels, uint8 (N, 28, 28) for MNIST images. ``expected_magic``
    (e.g. ``IMAGES_MAGIC``) makes any other magic number an error. A damaged file, or one announcing more
    than MAX_BYTES of data, raises ValueError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {path} does not exist")
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return _parse_idx(f, path, expected_magic)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        # EOFError: the gzip stream stops early (a cut-off download); BadGzipFile: bad header/CRC.
        raise ValueError(f"IDX file {path} is damaged: its gzip stream cannot be read ({e})") from e


def _parse_idx(f, path, expected_magic):
    # A buffered or gzip file's read(n) returns fewer bytes only at the end of the file.
    header = f.read(4)
    if len(header) < 4:
        raise ValueError(f"IDX file {path} is truncated: expected a 4-byte header, received {len(header)} bytes")
    zero, type_code, ndim = struct.unpack(">HBB", header)
    magic = struct.unpack(">I", header)[0]
    if expected_magic is not None and magic != expected_magic:
        raise ValueError(f"IDX file {path} has magic number {magic}, expected {expected_magic}")
    if zero != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(f"IDX file {path} has magic number {magic} (0x{magic:08X}), which is not an IDX magic "
                         f"number (expected 0x0000TTDD: a known type code TT, DD >= 1 dimensions, e.g. 2049 for "
                         f"labels or 2051 for images)")
    raw_dims = f.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise ValueError(f"IDX file {path} is truncated inside its header: expected {ndim} "
                         f"dimension sizes ({4 * ndim} bytes), received {len(raw_dims)} bytes")
    dims = struct.unpack(f">{ndim}I", raw_dims)
    dtype = _IDX_DTYPES[type_code]
    expected_bytes = math.prod(dims) * dtype.itemsize
    if expected_bytes > MAX_BYTES:
        raise ValueError(f"IDX file {path} announces shape {dims}, {expected_bytes} bytes of data, more than "
                         f"the {MAX_BYTES} bytes minicnn reads from one file")
    data = bytearray()          # grows with the bytes really there, not with what the header claims
    while len(data) < expected_bytes:
        chunk = f.read(min(expected_bytes - len(data), 1 << 24))
        if not chunk:
            raise ValueError(f"IDX file {path} is truncated: header says shape {dims} "
                             f"({expected_bytes} bytes of data), received {len(data)} bytes")
        data += chunk
    if f.read(1):
        raise ValueError(f"IDX file {path} has data after the {expected_bytes} bytes its header "
                         f"announces for shape {dims}")
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="), copy=False)
