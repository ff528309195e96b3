"""pyinstrument profiles of the operations that miss a target: where the time goes besides
DynamoDB. Written to bench/profiles/*.txt (linked from BENCHMARKS.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

PROFILES = Path(__file__).with_name("profiles")


def profile(name: str, action: Callable[[], Any], repeat: int, title: str, focus: tuple[str, ...] = ()) -> dict[str, Any]:
    """Profile `repeat` calls of `action`; save the call tree; return the heaviest functions by
    own time (flat) for the report."""
    from pyinstrument import Profiler

    PROFILES.mkdir(exist_ok=True)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(repeat):
        action()
    session = profiler.stop()
    tree = profiler.output_text(unicode=True, color=False, show_all=False)
    path = PROFILES / f"{name}.txt"
    path.write_text(f"# {title}\n# {repeat} calls, pyinstrument {_version()}\n\n{tree}")
    total = session.duration
    own: dict[str, float] = {}

    def walk(frame: Any) -> None:
        key = f"{frame.function} ({Path(frame.file_path_short or frame.file_path or '?').name}:{frame.line_no})"
        own[key] = own.get(key, 0.0) + frame.total_self_time
        for child in frame.children:
            walk(child)

    shares: dict[str, float] = {}

    def find(frame: Any) -> None:  # total time under the first frame of each focus function
        if frame.function in focus:
            shares[frame.function] = shares.get(frame.function, 0.0) + frame.time
            return
        for child in frame.children:
            find(child)

    root = session.root_frame()
    if root is not None:
        walk(root)
        find(root)
    top = sorted(own.items(), key=lambda kv: -kv[1])[:8]
    return {"name": name, "title": title, "path": f"bench/profiles/{name}.txt", "seconds": total, "repeat": repeat,
            "top": [(k, v / total if total else 0.0) for k, v in top],
            "focus": {k: v / total if total else 0.0 for k, v in shares.items()}}


def _version() -> str:
    import pyinstrument

    return pyinstrument.__version__
