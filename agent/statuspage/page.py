"""The status page's HTML: what the household reads, built from the agent's status and the
charts' history. Everything from outside (the probe id, problems, kinds) is escaped."""

from __future__ import annotations

import html
from typing import Any

from agent.statuspage.chart import Series, chart, when
from agent.statuspage.history import HISTORY_DAYS

PAUSE_CHOICES_MIN = (60, 240, 1440)
# Record kinds in the household's words.
KIND_NAMES = {
    "health": "self-check",
    "radio": "signal reading",
    "optical": "fibre reading",
    "latency": "latency test",
    "capacity": "speed test",
    "dns": "DNS test",
    "web": "web page test",
    "streaming": "video test",
}


def render(s: dict[str, Any], series: dict[str, Series]) -> str:
    """The page, from StatusPage.status() and the history's series by name (last HISTORY_DAYS)."""
    if s["paused_until"] is not None:
        state = f"Paused until {when(s['paused_until'] * 1000)}"
        state_class = "paused"
    elif s["healthy"]:
        state, state_class = "Working normally", "ok"
    else:
        state, state_class = "Needs attention: " + "; ".join(s["problems"]), "bad"
    last = s["last_measurement"]
    last_text = (
        "none yet"
        if last is None
        else f"{KIND_NAMES.get(last['kind'], last['kind'])} at {when(last['time_ms'])}"
    )
    latency = chart([("latency", series["latency_ms"])], "ms")
    capacity = chart(
        [
            ("download", series["down_mbps"]),
            ("upload", series["up_mbps"]),
        ],
        "Mbit/s",
    )
    if s["paused_until"] is not None:
        control = (
            '<form method="post" action="/resume"><button id="resume">'
            "Resume measurements now</button></form>"
        )
    else:
        options = "".join(
            f'<option value="{m}">{m // 60} hour{"s" if m > 60 else ""}</option>'
            for m in PAUSE_CHOICES_MIN
        )
        control = (
            '<form method="post" action="/pause"><label>Pause measurements for '
            f'<select name="minutes" id="minutes">{options}</select></label> '
            '<button id="pause">Pause</button></form>'
        )
    return PAGE.format(
        probe=html.escape(s["probe"]),
        state=html.escape(state),
        state_class=state_class,
        last=html.escape(last_text),
        waiting=s["waiting"],
        latency=latency,
        capacity=capacity,
        control=control,
        days=HISTORY_DAYS,
    )


HTML_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Frame-Options": "DENY",
}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Qiyas probe {probe}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 44rem; margin: 1rem auto; padding: 0 1rem;
  color: #222; }}
.state {{ padding: .8rem 1rem; border-radius: .5rem; font-size: 1.2rem; }}
.ok {{ background: #e3f4e1; }} .paused {{ background: #fff4d6; }} .bad {{ background: #fde2e1; }}
svg {{ width: 100%; height: auto; background: #fafafa; }}
.axis {{ stroke: #999; }} .label {{ font-size: 11px; fill: #555; }}
polyline {{ fill: none; stroke-width: 2; }}
.line0 {{ stroke: #1f6feb; }} .line1 {{ stroke: #d9480f; }}
.key0 {{ color: #1f6feb; }} .key1 {{ color: #d9480f; }}
button {{ font-size: 1rem; padding: .4rem 1rem; }}
</style></head>
<body>
<h1>Qiyas measurement probe</h1>
<p id="state" class="state {state_class}">{state}</p>
<p>Probe <b>{probe}</b>. Last measurement: <span id="last">{last}</span>.
Waiting to be delivered: {waiting}.</p>
<h2>Latency (last {days} days)</h2>
<div id="latency">{latency}</div>
<h2>Speed (last {days} days)</h2>
<div id="capacity">{capacity}</div>
<h2>Pause</h2>
<p>Need the whole line for a while? Measurements stop until the time you choose (a test already
running finishes first, at most a minute).</p>
{control}
<h2>What this probe sends, and why</h2>
<p>This probe measures the quality of your internet access for the national regulator, so that
coverage and speed claims can be checked against what households really get.</p>
<ul>
<li>It sends: latency, speed and DNS timing towards the regulator's measurement servers; the
state of the access link (signal levels and serving cell of the 5G/4G modem, or the optical levels
of the fibre box); the probe's own health (memory, uptime).</li>
<li>It never sends: what you browse or watch, your traffic's contents or destinations, your
SIM's identity (IMSI, ICCID, phone number), the modem's IMEI or the fibre box's serial number.</li>
<li>Speed tests use your line for about twenty seconds, a few times a day. Every record is signed
by this probe, so nobody can forge one in its name.</li>
</ul>
</body></html>
"""
