"""Video stylization with temporal consistency.

``media`` reads and writes video files (PyAV), ``flow`` estimates optical flow (OpenCV DIS),
warps along it and finds occlusions, ``consistency`` blends frames and measures flicker,
``frames`` turns a method into a frame stylizer, ``store`` keeps finished frames for resuming,
``loop`` runs it all.

Example:
    >>> from painterly.video import VideoConfig, fast_frame_stylizer, stylize_video
    >>> stylizer = fast_frame_stylizer("starry-night", device=torch.device("cpu"))   # doctest: +SKIP
    >>> stylize_video("clip.mp4", "out.mp4", stylizer, VideoConfig(size=480))        # doctest: +SKIP
"""

from painterly.video.consistency import Guidance, blend_with_previous, pair_warping_error, warping_error
from painterly.video.flow import FLOW_PRESETS, estimate_flow, estimate_flows, inside_mask, occlusion_mask, reliable_mask, warp
from painterly.video.frames import FrameStylizer, fast_frame_stylizer, frame_stylizer_for
from painterly.video.loop import VideoConfig, VideoJob, VideoResult, report_path, stylize_video, write_report
from painterly.video.media import AudioSource, VideoInfo, VideoWriter, output_size, probe_video, read_frames, read_timed_frames
from painterly.video.store import FrameStore, work_folder_for

__all__ = [
    "FLOW_PRESETS",
    "AudioSource",
    "FrameStore",
    "FrameStylizer",
    "Guidance",
    "VideoConfig",
    "VideoInfo",
    "VideoJob",
    "VideoResult",
    "VideoWriter",
    "blend_with_previous",
    "estimate_flow",
    "estimate_flows",
    "fast_frame_stylizer",
    "inside_mask",
    "frame_stylizer_for",
    "occlusion_mask",
    "output_size",
    "pair_warping_error",
    "probe_video",
    "read_frames",
    "read_timed_frames",
    "reliable_mask",
    "report_path",
    "stylize_video",
    "warp",
    "warping_error",
    "work_folder_for",
]
