"""The normalised radio snapshot, and the sans-IO Poller that fills it from a dialect's plan.

A snapshot is a plain dict whose shape is the `qiyas modem info --json` contract: identity,
`sim`, `registration`, `operator`, `serving_cell`, `nr` (the NR leg of NSA / EN-DC), `ca`
(carrier aggregation) and `temperature_c`. Keys carry their unit; a value the modem did not give
is None, never 0. Subscriber identities (IMSI, ICCID, MSISDN) never enter it.

A plan is a sequence of steps `(command, parser, timeout_s[, on_error])`. The Poller sends each
command through an `ATSession` and hands the information lines of an OK to `parser(snapshot,
lines)`; a command answered with an error calls `on_error(snapshot, response)` if the step has
one, and is otherwise skipped, so an unsupported vendor command leaves what the generic 27.007
commands read. A parser that leaves a field null because the answer cannot be read with certainty
returns the reasons (a list of short texts); they become the poll's notes. A timeout ends the
poll: the modem is not answering and the driver must recover.
"""

from agent.core.at import URC, Response, Timeout, response_prefix

TECHS = ("GSM", "UMTS", "LTE", "NR5G-NSA", "NR5G-SA")
CELL_KEYS = (
    "tech",
    "cell_id",
    "pci",
    "tac",
    "arfcn",
    "band",
    "bandwidth_mhz",
    "rsrp_dbm",
    "rsrq_db",
    "sinr_db",
    "rssi_dbm",
)
CA_KEYS = ("role", "band", "arfcn", "pci", "bandwidth_mhz", "rsrp_dbm", "rsrq_db", "sinr_db")
MAX_CA = 8
# answer prefixes a modem also sends unsolicited (registration, SIM and level reports): seeing one
# says nothing about whose answer is on the line
UNSOLICITED_TOO = ("+CREG:", "+CGREG:", "+CEREG:", "+C5GREG:", "+CPIN:", "^HCSQ:")
MAX_URCS = 16
IDENTITY_KEYS = ("dialect", "manufacturer", "model", "revision")
MAX_NOTES = 16

# what every record's access-link context carries: enough to read a result against the link
_CONTEXT_CELL_KEYS = ("tech", "cell_id", "pci", "band", "arfcn", "rsrp_dbm", "rsrq_db", "sinr_db")


def new_cell():
    # type: () -> dict
    cell = {}  # type: dict
    for key in CELL_KEYS:
        cell[key] = None
    return cell


def new_snapshot():
    # type: () -> dict
    return {
        "dialect": None,
        "manufacturer": None,
        "model": None,
        "revision": None,
        "sim": {"ready": None, "status": None},
        "registration": {"state": None, "tech": None},
        "operator": {"mcc": None, "mnc": None, "name": None},
        "serving_cell": new_cell(),
        "nr": None,
        "ca": None,
        "temperature_c": None,
    }


def update(target, values):
    # type: (dict, dict) -> None
    """Copy the known (non-None) values: a later, vendor-specific reading refines, never erases."""
    for key in values:
        if values[key] is not None:
            target[key] = values[key]


def fill(target, values):
    # type: (dict, dict) -> None
    """Set only the values the target does not have yet: a coarser reading (a coded level) never
    replaces a finer one the modem reported directly (a level in dBm)."""
    for key in values:
        if values[key] is not None and target.get(key) is None:
            target[key] = values[key]


def nr_leg(snapshot):
    # type: (dict) -> dict
    if snapshot["nr"] is None:
        snapshot["nr"] = new_cell()
    leg = snapshot["nr"]  # type: dict
    return leg


def hint_tech(snapshot, tech):
    # type: (dict, str | None) -> None
    """A vendor command's view of the technology, used when registration did not say."""
    if tech is not None and snapshot["registration"]["tech"] is None:
        snapshot["registration"]["tech"] = tech


def set_operator(snapshot, mcc, mnc, name=None):
    # type: (dict, str | None, str | None, str | None) -> None
    update(snapshot["operator"], {"mcc": mcc, "mnc": mnc, "name": name})


def add_carrier(snapshot, carrier):
    # type: (dict, dict) -> None
    if snapshot["ca"] is None:
        snapshot["ca"] = []
    if len(snapshot["ca"]) < MAX_CA:
        entry = {}
        for key in CA_KEYS:
            entry[key] = carrier.get(key)
        snapshot["ca"].append(entry)


def _known_only(cell):
    out = {}
    for key in _CONTEXT_CELL_KEYS:
        if cell.get(key) is not None:
            out[key] = cell[key]
    return out


def link_context(snapshot):
    # type: (dict) -> dict
    """The access-link context other records carry: technology, operator, serving cell levels.

    Identity (model, revision) and carrier aggregation stay in the radio record itself.
    """
    ctx = {}
    for key, value in (
        ("tech", snapshot["registration"]["tech"]),
        ("registration", snapshot["registration"]["state"]),
        ("mcc", snapshot["operator"]["mcc"]),
        ("mnc", snapshot["operator"]["mnc"]),
    ):
        if value is not None:
            ctx[key] = value
    cell = _known_only(snapshot["serving_cell"])
    if cell:
        ctx["serving_cell"] = cell
    if snapshot["nr"] is not None:
        leg = _known_only(snapshot["nr"])
        if leg:
            ctx["nr"] = leg
    return ctx


def record_values(snapshot):
    # type: (dict) -> dict
    """The values of a `radio` record (radio-values in record.cddl): the snapshot, minus the
    manufacturer name that the model already implies."""
    values = {}
    for key in snapshot:
        if key != "manufacturer":
            values[key] = snapshot[key]
    return values


class Poller:
    """Walks a plan of AT commands through an ATSession, filling a snapshot. Sans-IO: the
    driver writes what `start`, `receive` and `tick` return and reads until `done`."""

    def __init__(self, session, steps, snapshot, timeout_cap_s=None, reboot_ends_poll=True):
        self.session = session
        self.steps = steps
        self.timeout_cap_s = timeout_cap_s  # the driver's bound on any one command's wait
        # A resync walks its own one-step plan with this False: an RDY left over from before
        # the port was opened must not make it send a second AT whose OK would then answer
        # the next command.
        self.reboot_ends_poll = reboot_ends_poll
        self.snapshot = snapshot
        self._index = 0
        self.done = False
        self.failed = None  # why the poll stopped early (a timeout), or None
        self.notes = []  # commands answered with an error, parsers that rejected a line
        self.urcs = []  # the latest unsolicited codes seen during the poll
        self.urc_count = 0
        self.rebooted = False  # the modem announced a (re)boot during the poll
        # the prefixes only this plan's answers carry: a late answer to one of its commands is
        # told by them from the answer to the command in flight
        self._answer_prefixes = tuple(
            prefix
            for prefix in (response_prefix(step[0]) for step in steps)
            if prefix and prefix not in UNSOLICITED_TOO
        )

    def start(self, now):
        # type: (float) -> bytes
        return self._send(now)

    def receive(self, data, now):
        # type: (bytes, float) -> bytes
        return self._handle(self.session.receive(data, now), now)

    def tick(self, now):
        # type: (float) -> bytes
        return self._handle(self.session.tick(now), now)

    def _note(self, text):
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text)

    def _send(self, now):
        if self._index >= len(self.steps):
            self.done = True
            return b""
        step = self.steps[self._index]
        return self.session.command(step[0], now, self._timeout(step), self._answer_prefixes)

    def _timeout(self, step):
        cap = self.timeout_cap_s
        return step[2] if cap is None or step[2] < cap else cap

    def _handle(self, events, now):
        out = b""
        for event in events:
            if isinstance(event, URC):
                self.urc_count += 1
                if len(self.urcs) >= MAX_URCS:
                    self.urcs.pop(0)
                self.urcs.append(event.line)
                if event.line == "RDY":
                    self.rebooted = True
                    if self.reboot_ends_poll and not self.done:
                        # the command in flight died with the reboot: do not wait for its timeout
                        self.session.reset()
                        self._abort("the modem rebooted during %s" % self.steps[self._index][0])
            elif isinstance(event, Response) and not self.done:
                step = self.steps[self._index]
                self._apply(step, event)
                self._index += 1
                out += self._send(now)
            elif isinstance(event, Timeout) and not self.done:
                limit = self._timeout(self.steps[self._index])
                self._abort("no answer to %s within %gs" % (event.command, limit))
        return out

    def _abort(self, reason):
        """End the poll early. What it read so far is dropped: a poll cut short mixes coarse
        readings with the finer ones that were still to come (+CSQ's RSSI where the vendor's
        table would have refined it), so its readings are nulled, with `failed` as the reason;
        the identity stays."""
        self.failed = reason
        self.done = True
        fresh = new_snapshot()
        for key in fresh:
            if key not in IDENTITY_KEYS:
                self.snapshot[key] = fresh[key]

    def _apply(self, step, response):
        parser = step[1] if response.ok else (step[3] if len(step) > 3 else None)
        if not response.ok:
            self._note("%s: %s" % (step[0], response.final))
        if parser is None:
            return
        try:
            reasons = parser(self.snapshot, response.lines if response.ok else response)
        except Exception as exc:  # a parser bug must not take the poll down
            self._note("%s: unreadable answer (%s)" % (step[0], exc))
            return
        for reason in reasons or ():
            self._note("%s: %s" % (step[0], reason))
