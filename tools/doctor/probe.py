"""The probe itself: its config (which every other check needs) and its signing key."""

from __future__ import annotations

from tools.doctor.results import FAIL, Context, Result, passed, unreadable


async def check_config(config_path: str) -> Result:
    """Loads the config and its board; the context it returns is what every later check gets."""
    from agent import boards, config
    from agent.sources import load_factory

    try:
        cfg = config.load(config_path)
        board = boards.load(cfg.board)
        for name in cfg.schedule:  # each part checks its own section
            await load_factory(name)(cfg, board).aclose()
    except (config.ConfigError, boards.BoardError, ValueError) as exc:
        return Result("config", FAIL, str(exc), "correct the file, or run qiyas provision")
    runs = ", ".join(f"{n} every {s:g} s" for n, s in cfg.schedule.items())
    reason = f"probe {cfg.probe_id} on board {board.name}; {runs}"
    return passed("config", reason)._replace(learned=Context(cfg, board))


async def check_key(ctx: Context) -> Result:
    from agent import keys

    path = ctx.config.key_path
    try:
        if not path.exists():
            return Result("probe key", FAIL, f"no key at {path}", "run qiyas provision")
        key = keys.load_or_create(path)
    except PermissionError:
        return unreadable("probe key", path)
    except keys.KeyFileError as exc:
        return Result("probe key", FAIL, str(exc), f"chmod 600 {path}; owner: the agent user")
    return passed("probe key", f"kid {key.kid.hex()}")
