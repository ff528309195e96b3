"""Write docs/events/<event name>.schema.json (stable formatting, commit-ready):
`python -m tools.event_schemas [docs/events]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "layers" / "credits") not in sys.path:
    sys.path.insert(0, str(ROOT / "layers" / "credits"))

from credits.models.events import json_schemas  # noqa: E402  (after the layer is on the path)


def write_schemas(directory: str) -> list[str]:
    """Write docs/events/<event name>.schema.json (stable formatting, commit-ready)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(str(path))
    return written


if __name__ == "__main__":
    print("\n".join(write_schemas(sys.argv[1] if len(sys.argv) > 1 else "docs/events")))
