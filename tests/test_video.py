"""The course clip (tensorlab.data.video, notebook 05): drawn, encoded, decoded, checked, served."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from tensorlab.data import DatasetError, datasets_dir
from tensorlab.data.video import (
    PIXEL_TOLERANCE,
    VIDEO_CHANNELS,
    VIDEO_FILE,
    VIDEO_FPS,
    VIDEO_FRAMES,
    VIDEO_SIZE,
    VideoClips,
    check_video,
    decode_video,
    encode_video,
    load_video,
    make_video,
    rebuild_video,
    video_info,
)

CLIP_SHAPE = (VIDEO_FRAMES, VIDEO_CHANNELS, VIDEO_SIZE, VIDEO_SIZE)  # (T, C, H, W)


@pytest.fixture(scope="module")
def drawn() -> torch.Tensor:
    return make_video()  # (T, C, H, W)


def test_the_clip_is_drawn_the_same_every_time_and_the_seed_matters(drawn):
    assert drawn.shape == CLIP_SHAPE == (32, 3, 128, 128) and drawn.dtype == torch.uint8
    assert torch.equal(drawn, make_video())
    assert not torch.equal(drawn, make_video(seed=1))


def test_the_shapes_move_and_each_lives_mostly_in_one_channel(drawn):
    changed = (drawn[1:] != drawn[:-1]).any(dim=1).float().mean(dim=(1, 2))  # (T - 1,): share of pixels that changed
    assert bool((changed > 0.005).all()), "some consecutive frames are (almost) identical: nothing moves"
    for channel in range(3):  # the brightest pixels of each channel belong to a different shape
        brightest = drawn[:, channel] > 200  # (T, H, W)
        assert brightest.any(dim=(1, 2)).all(), f"channel {channel} has no bright shape in some frame"
    assert not torch.equal(drawn[:, 0] > 200, drawn[:, 1] > 200)


def test_round_trip_through_the_codec_gives_back_the_pixels_and_the_exact_frame_count(tmp_path, drawn):
    path = encode_video(drawn, tmp_path / "clip.mp4")
    info = video_info(path)
    decoded = decode_video(path)  # (T, C, H, W)
    assert info.frames == VIDEO_FRAMES == decoded.shape[0]
    assert decoded.shape == drawn.shape and decoded.dtype == torch.uint8
    worst = int((decoded.int() - drawn.int()).abs().max())
    assert worst <= PIXEL_TOLERANCE == 0, f"decoded pixels differ from drawn ones by up to {worst}"
    assert (info.width, info.height, info.fps, info.codec) == (VIDEO_SIZE, VIDEO_SIZE, VIDEO_FPS, "h264")


def test_round_trip_of_other_sizes_keeps_frame_count_and_pixels(tmp_path):
    small = make_video(seed=3, num_frames=5, size=64)  # (5, 3, 64, 64)
    decoded = decode_video(encode_video(small, tmp_path / "small.mp4"))
    assert decoded.shape == (5, 3, 64, 64)
    assert torch.equal(decoded, small)


def test_the_shipped_clip_is_small_and_holds_exactly_the_drawn_clip(drawn):
    path = datasets_dir() / VIDEO_FILE
    assert path.is_file()
    info = video_info()
    assert info.frames == VIDEO_FRAMES
    assert info.file_bytes == path.stat().st_size < 100_000, "the shipped clip should stay well under 1 MB"
    video = check_video()
    assert video.shape == CLIP_SHAPE and video.dtype == torch.uint8
    assert torch.equal(video, load_video()) and torch.equal(video, drawn)


def test_rebuilding_reproduces_the_shipped_files_decoded_frames(tmp_path):
    rebuilt = rebuild_video(tmp_path / VIDEO_FILE)
    assert torch.equal(decode_video(rebuilt), load_video())
    assert check_video(rebuilt).shape == CLIP_SHAPE


def test_a_missing_or_unreadable_file_gets_one_sentence(tmp_path):
    with pytest.raises(
        DatasetError, match=r"missing\.mp4 is missing; rebuild it with tensorlab\.data\.video\.rebuild_video\(\)\.$"
    ):
        load_video(tmp_path / "missing.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video" * 10)
    with pytest.raises(DatasetError, match=r"garbage\.mp4 is not a readable video \(.+\)\.$") as error:
        check_video(garbage)
    assert "\n" not in str(error.value)


def test_a_cut_off_file_is_reported_as_damaged(tmp_path):
    whole = (datasets_dir() / VIDEO_FILE).read_bytes()
    for keep in (len(whole) // 2, len(whole) - 200):
        cut = tmp_path / f"cut_{keep}.mp4"
        cut.write_bytes(whole[:keep])
        with pytest.raises(
            DatasetError, match=r"cut_\d+\.mp4 (is not a readable video|is damaged|should hold 32 frames)"
        ) as error:
            check_video(cut)
        message = str(error.value)
        assert "\n" not in message and message.endswith("."), message


def test_corrupted_bytes_inside_the_file_are_caught_by_the_pixel_check(tmp_path):
    damaged = bytearray((datasets_dir() / VIDEO_FILE).read_bytes())
    damaged[len(damaged) // 2 : len(damaged) // 2 + 64] = bytes(64)  # zero 64 bytes of compressed frames
    path = tmp_path / "zeroed.mp4"
    path.write_bytes(bytes(damaged))
    with pytest.raises(DatasetError, match=r"zeroed\.mp4 (does not hold the course clip|is damaged)"):
        check_video(path)


def test_a_file_with_the_wrong_frames_is_named_with_what_is_wrong(tmp_path, drawn):
    short = encode_video(drawn[:10], tmp_path / "short.mp4")
    with pytest.raises(DatasetError, match=r"short\.mp4 should hold 32 frames, but it holds 10\.$"):
        load_video(short)
    small = encode_video(make_video(num_frames=VIDEO_FRAMES, size=64), tmp_path / "small.mp4")
    with pytest.raises(DatasetError, match=r"small\.mp4 should hold 128 x 128 frames, but they are 64 x 64\.$"):
        load_video(small)
    other = encode_video(make_video(seed=1), tmp_path / "other.mp4")
    with pytest.raises(
        DatasetError,
        match=r"other\.mp4 does not hold the course clip: \d+ of 32 frames differ "
        r"by up to \d+ \(tolerance 0\); rebuild it with",
    ):
        check_video(other)
    one_pixel = drawn.clone()
    one_pixel[5, 1, 7, 9] ^= 0x40  # flip one bit of one value of one frame
    with pytest.raises(DatasetError, match=r"1 of 32 frames differ by up to 64"):
        check_video(encode_video(one_pixel, tmp_path / "one_pixel.mp4"))


def test_encode_refuses_what_is_not_a_uint8_rgb_video(tmp_path, drawn):
    with pytest.raises(ValueError, match=r"expected a \(T, 3, H, W\) uint8 video"):
        encode_video(drawn.float(), tmp_path / "float.mp4")
    with pytest.raises(ValueError, match=r"expected a \(T, 3, H, W\) uint8 video"):
        encode_video(drawn.permute(0, 2, 3, 1), tmp_path / "thwc.mp4")


def test_video_clips_serve_windows_as_c_t_h_w(drawn):
    clips = VideoClips(drawn, clip_len=8, stride=4)
    assert len(clips) == (32 - 8) // 4 + 1 == 7
    for index in (0, 3, 6, -1):
        start = clips.start_frame(index % len(clips))
        expected = drawn[start : start + 8].permute(1, 0, 2, 3)  # (T, C, H, W) -> (C, T, H, W)
        assert torch.equal(clips[index], expected)
    assert clips[6].shape == (3, 8, 128, 128)
    with pytest.raises(IndexError, match="clip 7 does not exist; there are 7"):
        clips[7]
    with pytest.raises(ValueError, match="clip_len"):
        VideoClips(drawn, clip_len=33)
    with pytest.raises(ValueError, match=r"expected a \(T, C, H, W\) video"):
        VideoClips(drawn[0])


def test_video_clips_apply_torchvision_transforms_per_clip_and_batch_to_n_c_t_h_w(drawn):
    clips = VideoClips(drawn, clip_len=8, stride=8, transform=v2.Resize((64, 64), antialias=True))
    first = clips[0]  # (C, T, H, W)
    assert first.shape == (3, 8, 64, 64) and first.dtype == torch.uint8 and type(first) is torch.Tensor
    by_hand = v2.functional.resize(drawn[:8], [64, 64], antialias=True).permute(1, 0, 2, 3)
    assert torch.equal(first, by_hand)
    batches = list(DataLoader(clips, batch_size=3))
    assert [tuple(b.shape) for b in batches] == [(3, 3, 8, 64, 64), (1, 3, 8, 64, 64)]  # (N, C, T, H, W)
    assert all(b.dtype == torch.uint8 for b in batches)
    assert torch.equal(batches[1][0], clips[3])
