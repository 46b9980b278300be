"""The course's short video clip of moving coloured shapes (introduced in notebook 05).

:func:`make_video` draws the clip: a red disc, a green square and a blue triangle gliding and
bouncing over a dark background, 32 frames of 128 x 128 RGB pixels. Every position is whole-number
arithmetic from a seeded generator, so the same seed gives the same pixels on every machine.

The clip ships as ``datasets/moving_shapes.mp4``, encoded with PyAV as H.264 in its lossless RGB
form (``libx264rgb`` with ``crf=0``): decoding gives back the drawn pixels exactly
(:data:`PIXEL_TOLERANCE` is 0) in a file of about 29 KB. :func:`rebuild_video` writes it again,
:func:`check_video` says in one sentence what is wrong with a missing or damaged file, and
:class:`VideoClips` serves short clips from it to a ``DataLoader``.

Layouts: one frame is (C, H, W) and a decoded video is (T, C, H, W), the layout of
``torchvision.transforms.v2`` and ``tv_tensors.Video``; :class:`VideoClips` hands out (C, T, H, W)
so that a ``DataLoader`` batch is (N, C, T, H, W), the layout ``nn.Conv3d`` and torchvision's video
networks expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from tensorlab.data import DatasetError, datasets_dir

VIDEO_FILE = "moving_shapes.mp4"
VIDEO_FRAMES = 32  # T
VIDEO_SIZE = 128  # H = W
VIDEO_CHANNELS = 3  # C: red, green, blue
VIDEO_FPS = 8  # 32 frames = 4 seconds
VIDEO_SEED = 0
# The codec is lossless, so decoded pixels equal the drawn ones exactly. A lossy codec (plain H.264
# in yuv420p, MJPEG) would need a tolerance here; the tests and check_video use this constant.
PIXEL_TOLERANCE = 0
CODEC = "libx264rgb"
CODEC_OPTIONS = {"crf": "0", "preset": "medium"}


# ---------------------------------------------------------------------------------------------
# Drawing the clip
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    kind: str  # "disc", "square" or "triangle"
    color: tuple[int, int, int]  # RGB, 0-255
    half: int  # radius or half the side, in pixels


# Each shape lives mostly in one channel, so drawing a frame's channels shows one shape in each.
_SHAPES = (
    _Shape("disc", (235, 60, 50), 15),
    _Shape("square", (60, 215, 80), 12),
    _Shape("triangle", (70, 110, 245), 16),
)


def _bounce(start: torch.Tensor, velocity: torch.Tensor, t: torch.Tensor, low: int, high: int) -> torch.Tensor:
    """Integer position at frames ``t`` of a point moving at ``velocity`` and bouncing in [low, high]."""
    span = high - low
    q = (start - low + velocity * t) % (2 * span)  # position along an unfolded path
    return low + torch.where(q <= span, q, 2 * span - q)


def make_video(seed: int = VIDEO_SEED, num_frames: int = VIDEO_FRAMES, size: int = VIDEO_SIZE) -> torch.Tensor:
    """Draw the clip: a (T, 3, size, size) uint8 tensor, the same every time for the same seed."""
    if num_frames < 1 or size < 48:
        raise ValueError(f"need at least 1 frame of at least 48 x 48 pixels, got {num_frames} of {size} x {size}")
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(num_frames)  # (T,)
    yy = torch.arange(size).view(1, size, 1)  # (1, H, 1)
    xx = torch.arange(size).view(1, 1, size)  # (1, 1, W)

    # Background: a dark gradient, darker at the top (integers only, so exact everywhere).
    rows = torch.arange(size)  # (H,)
    background = torch.stack([20 + 30 * rows // size, 18 + 12 * rows // size, 40 + 40 * rows // size])  # (3, H)
    video = background.view(1, 3, size, 1).expand(num_frames, 3, size, size).clone()  # (T, 3, H, W) int64

    for shape in _SHAPES:
        low, high = shape.half, size - 1 - shape.half
        start = torch.randint(low, high + 1, (2,), generator=generator)  # (2,): x, y
        speed = torch.randint(2, 6, (2,), generator=generator)  # (2,) pixels per frame
        sign = torch.randint(0, 2, (2,), generator=generator) * 2 - 1  # (2,) of -1 or +1
        cx = _bounce(start[0], speed[0] * sign[0], t, low, high).view(-1, 1, 1)  # (T, 1, 1)
        cy = _bounce(start[1], speed[1] * sign[1], t, low, high).view(-1, 1, 1)  # (T, 1, 1)
        dx, dy = xx - cx, yy - cy  # (T, 1, W), (T, H, 1)
        if shape.kind == "disc":
            mask = dx * dx + dy * dy <= shape.half * shape.half  # (T, H, W)
        elif shape.kind == "square":
            mask = (dx.abs() <= shape.half) & (dy.abs() <= shape.half)  # (T, H, W)
        else:  # a triangle pointing up: apex at cy - half, base at cy + half
            mask = (dy.abs() <= shape.half) & (2 * dx.abs() <= dy + shape.half)  # (T, H, W)
        color = torch.tensor(shape.color).view(1, 3, 1, 1)  # (1, 3, 1, 1)
        video = torch.where(mask.unsqueeze(1), color, video)  # (T, 3, H, W)
    return video.to(torch.uint8)


# ---------------------------------------------------------------------------------------------
# Encoding and decoding with PyAV
# ---------------------------------------------------------------------------------------------


def encode_video(video: torch.Tensor, path: Path | str, fps: int = VIDEO_FPS) -> Path:
    """Write a (T, 3, H, W) uint8 tensor to ``path`` as lossless H.264 (libx264rgb, crf 0)."""
    import av

    if video.dtype != torch.uint8 or video.ndim != 4 or video.shape[1] != 3:
        raise ValueError(f"expected a (T, 3, H, W) uint8 video, got shape {tuple(video.shape)} and dtype {video.dtype}")
    path = Path(path)
    _, _, height, width = video.shape
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(CODEC, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb24"
        stream.options = dict(CODEC_OPTIONS)
        for frame in video:  # frame: (3, H, W)
            hwc = frame.permute(1, 2, 0).contiguous().numpy()  # (H, W, 3): PyAV's layout
            for packet in stream.encode(av.VideoFrame.from_ndarray(hwc, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():  # flush the encoder
            container.mux(packet)
    return path


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video file, read without decoding it."""

    frames: int  # the frame count the container declares
    fps: float
    width: int
    height: int
    codec: str
    file_bytes: int


def _open(path: Path):
    import av

    if not path.is_file():
        raise DatasetError(f"{path} is missing; rebuild it with tensorlab.data.video.rebuild_video().")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as error:
        raise DatasetError(f"{path} is not a readable video ({_reason(error)}).") from None
    if not container.streams.video:
        container.close()
        raise DatasetError(f"{path} holds no video stream.")
    return container


def _reason(error: BaseException) -> str:
    return str(getattr(error, "strerror", None) or error).strip().rstrip(".").lower()


def video_info(path: Path | str | None = None) -> VideoInfo:
    """Frame count, frame rate, size and codec of a video file, from its container."""
    path = Path(path or datasets_dir() / VIDEO_FILE)
    with _open(path) as container:
        stream = container.streams.video[0]
        return VideoInfo(
            frames=int(stream.frames),
            fps=float(stream.average_rate or 0),
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            codec=stream.codec_context.name,
            file_bytes=path.stat().st_size,
        )


def decode_video(path: Path | str) -> torch.Tensor:
    """Decode every frame of a video file into a (T, 3, H, W) uint8 tensor.

    Raises :class:`~tensorlab.data.DatasetError` with one sentence when the file is missing, cannot be
    decoded, or decodes to fewer or more frames than its container declares (a cut-off file).
    """
    import av

    path = Path(path)
    frames = []
    with _open(path) as container:
        stream = container.streams.video[0]
        declared = int(stream.frames)
        try:
            for frame in container.decode(stream):
                hwc = torch.from_numpy(frame.to_ndarray(format="rgb24"))  # (H, W, 3)
                frames.append(hwc.permute(2, 0, 1))  # (3, H, W)
        except av.error.FFmpegError as error:
            raise DatasetError(
                f"{path} is damaged: decoding stopped after {len(frames)} frame(s) " f"({_reason(error)})."
            ) from None
    if not frames:
        raise DatasetError(f"{path} holds a video stream with no decodable frames.")
    if declared and declared != len(frames):
        raise DatasetError(
            f"{path} is damaged: its container declares {declared} frames but " f"{len(frames)} could be decoded."
        )
    return torch.stack(frames).contiguous()  # (T, 3, H, W)


def load_video(path: Path | str | None = None) -> torch.Tensor:
    """Read the course clip as a (32, 3, 128, 128) uint8 tensor (T, C, H, W), checking its shape."""
    path = Path(path or datasets_dir() / VIDEO_FILE)
    video = decode_video(path)  # (T, C, H, W)
    expected = (VIDEO_FRAMES, VIDEO_CHANNELS, VIDEO_SIZE, VIDEO_SIZE)
    if video.shape[0] != VIDEO_FRAMES:
        raise DatasetError(f"{path} should hold {VIDEO_FRAMES} frames, but it holds {video.shape[0]}.")
    if tuple(video.shape) != expected:
        _, _, height, width = video.shape
        raise DatasetError(
            f"{path} should hold {VIDEO_SIZE} x {VIDEO_SIZE} frames, but they are " f"{width} x {height}."
        )
    return video


def check_video(path: Path | str | None = None) -> torch.Tensor:
    """Load the shipped clip and check that it holds exactly what :func:`make_video` draws.

    Returns the decoded (T, C, H, W) uint8 video; raises :class:`~tensorlab.data.DatasetError` with
    one sentence (and how to rebuild the file) when it is missing, damaged or different.
    """
    path = Path(path or datasets_dir() / VIDEO_FILE)
    video = load_video(path)  # (T, C, H, W)
    difference = (video.int() - make_video().int()).abs()  # (T, C, H, W)
    worst = int(difference.max())
    if worst > PIXEL_TOLERANCE:
        changed = int((difference > PIXEL_TOLERANCE).any(dim=(1, 2, 3)).sum())
        raise DatasetError(
            f"{path} does not hold the course clip: {changed} of {VIDEO_FRAMES} frames differ "
            f"by up to {worst} (tolerance {PIXEL_TOLERANCE}); rebuild it with "
            "tensorlab.data.video.rebuild_video()."
        )
    return video


def rebuild_video(path: Path | str | None = None) -> Path:
    """Draw the clip with :func:`make_video` and write it to datasets/moving_shapes.mp4 (or ``path``)."""
    return encode_video(make_video(), Path(path or datasets_dir() / VIDEO_FILE))


# ---------------------------------------------------------------------------------------------
# Serving clips to a DataLoader
# ---------------------------------------------------------------------------------------------


class VideoClips(Dataset):
    """Short clips cut from one video, served as (C, T, H, W) so that batches are (N, C, T, H, W).

    Clip ``i`` is frames ``i * stride`` to ``i * stride + clip_len - 1``. ``transform`` (for example
    ``torchvision.transforms.v2.Resize``) is applied to each clip in the (T, C, H, W) layout that
    torchvision's video transforms use, before the permute. Frames keep their dtype (uint8 from
    :func:`load_video`): converting to float is best left to the device (notebook 05 shows why).
    """

    def __init__(
        self,
        video: torch.Tensor,
        clip_len: int = 8,
        stride: int = 4,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if video.ndim != 4:
            raise ValueError(f"expected a (T, C, H, W) video, got shape {tuple(video.shape)}")
        if not 1 <= clip_len <= video.shape[0] or stride < 1:
            raise ValueError(
                f"need 1 <= clip_len <= {video.shape[0]} frames and stride >= 1, "
                f"got clip_len={clip_len}, stride={stride}"
            )
        self.video, self.clip_len, self.stride, self.transform = video, clip_len, stride, transform

    def __len__(self) -> int:
        return (self.video.shape[0] - self.clip_len) // self.stride + 1

    def start_frame(self, index: int) -> int:
        return index * self.stride

    def __getitem__(self, index: int) -> torch.Tensor:
        if not -len(self) <= index < len(self):
            raise IndexError(f"clip {index} does not exist; there are {len(self)}")
        start = self.start_frame(index % len(self))
        clip = self.video[start : start + self.clip_len]  # (T, C, H, W)
        if self.transform is not None:  # torchvision v2 transforms treat a tv_tensors.Video as (T, C, H, W)
            clip = self.transform(tv_tensors.Video(clip)).as_subclass(torch.Tensor)  # (T, C, H', W')
        return clip.permute(1, 0, 2, 3)  # (C, T, H', W')
