"""Which local stack the CLI talks to, wherever it is run from.

The state folder holds the stack's status, logs and approval key. The rule:

1. ``AGENTPIPE_STATE_DIR`` when it is set;
2. else the nearest ``.agentpipe`` folder in the working directory or above it
   (so any subfolder of a checkout finds the checkout's stack);
3. else a folder per user: ``$XDG_STATE_HOME/agentpipe``, by default
   ``~/.local/state/agentpipe``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

FOLDER = ".agentpipe"

RULE_HELP = (
    "state folder (the stack's status, logs and approval key): $AGENTPIPE_STATE_DIR if set, else the nearest\n"
    f"  {FOLDER} folder in or above the working directory, else $XDG_STATE_HOME/agentpipe\n"
    "  (default ~/.local/state/agentpipe)"
)


def locate_state_dir(env: Mapping[str, str], cwd: Path, home: Path) -> Path:
    if env.get("AGENTPIPE_STATE_DIR"):
        return Path(env["AGENTPIPE_STATE_DIR"]).expanduser()
    for folder in (cwd, *cwd.parents):
        if (folder / FOLDER).is_dir():
            return folder / FOLDER
    user_state = Path(env["XDG_STATE_HOME"]) if env.get("XDG_STATE_HOME") else home / ".local" / "state"
    return user_state / "agentpipe"


def use_located_state_dir() -> Path:
    """Point this process's settings (and every process it starts) at the located folder."""
    from agentpipe.settings import get_settings

    located = locate_state_dir(os.environ, Path.cwd(), Path.home()).resolve()
    if os.environ.get("AGENTPIPE_STATE_DIR") != str(located):
        os.environ["AGENTPIPE_STATE_DIR"] = str(located)
        get_settings.cache_clear()
    return located
