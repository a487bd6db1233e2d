"""AT session framing (runs under CPython and MicroPython: plain functions, no fixtures)."""

from agent.core.at import URC, ATError, ATSession, Response, Timeout, response_prefix


def _feed(session, data, now=0.0, step=0):
    """All events from feeding `data`, whole or `step` bytes at a time."""
    if not step:
        return session.receive(data, now)
    events = []
    for i in range(0, len(data), step):
        events.extend(session.receive(data[i : i + step], now))
    return events


def test_command_bytes_end_with_carriage_return():
    session = ATSession()
    assert session.command("AT+CSQ", 0.0, 1.0) == b"AT+CSQ\r"
    assert session.busy


def test_response_collects_information_lines_until_the_final_code():
    session = ATSession()
    session.command("AT+CSQ", 0.0, 1.0)
    [event] = _feed(session, b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
    assert isinstance(event, Response)
    assert event.command == "AT+CSQ"
    assert event.lines == ["+CSQ: 20,99"]
    assert event.ok and event.final == "OK" and event.error_code is None
    assert not session.busy


def test_the_same_bytes_split_anywhere_give_the_same_events():
    data = b'AT+QENG="servingcell"\r\r\n+QENG: "servingcell","NOCONN"\r\n+CEREG: 1\r\nRDY\r\nOK\r\n'
    for step in (1, 2, 3, 7, 100):
        session = ATSession()
        session.command('AT+QENG="servingcell"', 0.0, 1.0)
        events = _feed(session, data, step=step)
        assert [type(e).__name__ for e in events] == ["URC", "URC", "Response"], step
        assert events[2].lines == ['+QENG: "servingcell","NOCONN"']


def test_echo_of_the_command_is_not_an_information_line():
    session = ATSession()
    session.command("AT+CGMI", 0.0, 1.0)
    [event] = _feed(session, b"AT+CGMI\r\r\nQuectel\r\n\r\nOK\r\n")
    assert event.lines == ["Quectel"]


def test_urc_in_the_middle_of_a_response_is_routed_apart():
    session = ATSession()
    session.command('AT+QENG="servingcell"', 0.0, 1.0)
    events = _feed(
        session,
        b'\r\n+QENG: "servingcell","NOCONN"\r\n+QIND: "csq",20,99\r\n+QENG: "LTE","FDD"\r\nOK\r\n',
    )
    assert isinstance(events[0], URC) and events[0].line == '+QIND: "csq",20,99'
    assert events[1].lines == ['+QENG: "servingcell","NOCONN"', '+QENG: "LTE","FDD"']


def test_a_line_with_the_commands_prefix_is_its_answer_otherwise_an_unsolicited_code():
    session = ATSession()
    session.command("AT+CPIN?", 0.0, 1.0)
    [answer] = _feed(session, b"\r\n+CPIN: READY\r\nOK\r\n")
    assert answer.lines == ["+CPIN: READY"]
    session.command("AT+CSQ", 0.0, 1.0)
    urc, answer = _feed(session, b"\r\n+CPIN: READY\r\n+CSQ: 5,99\r\nOK\r\n")
    assert urc.line == "+CPIN: READY" and answer.lines == ["+CSQ: 5,99"]


def test_boot_words_are_unsolicited_even_inside_a_response():
    session = ATSession()
    session.command("AT+CGMM", 0.0, 1.0)
    urc, answer = _feed(session, b"\r\nRDY\r\nRM520N-GL\r\nOK\r\n")
    assert urc.line == "RDY" and answer.lines == ["RM520N-GL"]


def test_anything_while_idle_is_unsolicited():
    session = ATSession()
    events = _feed(session, b'\r\n+CEREG: 1,"2B5C","01A2D003",7\r\n\r\nRING\r\n')
    assert [e.line for e in events] == ['+CEREG: 1,"2B5C","01A2D003",7', "RING"]


def test_cme_and_cms_errors_carry_their_number():
    session = ATSession()
    session.command("AT+CPIN?", 0.0, 1.0)
    [event] = _feed(session, b"\r\n+CME ERROR: 10\r\n")
    assert not event.ok and event.error_code == 10 and event.final == "+CME ERROR: 10"
    session.command("AT+CMGS=1", 0.0, 1.0)
    [event] = _feed(session, b"\r\n+CMS ERROR: 500\r\n")
    assert event.error_code == 500
    session.command("AT+CME", 0.0, 1.0)
    [event] = _feed(session, b"\r\n+CME ERROR: SIM not inserted\r\n")
    assert not event.ok and event.error_code is None  # verbose mode: text, no number


def test_other_final_codes_end_a_command():
    for final in (b"ERROR", b"NO CARRIER", b"BUSY", b"NO ANSWER", b"NO DIALTONE"):
        session = ATSession()
        session.command("ATD123;", 0.0, 1.0)
        [event] = _feed(session, b"\r\n" + final + b"\r\n")
        assert isinstance(event, Response) and not event.ok and event.final == final.decode()


def test_timeout_fires_at_the_deadline_not_before():
    session = ATSession()
    session.command("AT+COPS?", 10.0, 2.0)
    assert session.deadline == 12.0
    assert session.tick(11.999) == []
    [event] = session.tick(12.0)
    assert isinstance(event, Timeout) and event.command == "AT+COPS?"
    assert not session.busy and session.deadline is None


def test_a_late_answer_after_a_timeout_is_not_taken_for_the_next_command():
    session = ATSession()
    session.command("AT+COPS?", 0.0, 1.0)
    session.tick(1.0)
    assert _feed(session, b"\r\nOK\r\n", 1.5) == []  # the tail of the timed-out command
    assert session.stray_finals == 1
    session.command("AT+CSQ", 2.0, 1.0)
    [event] = _feed(session, b"\r\n+CSQ: 10,99\r\nOK\r\n", 2.1)
    assert event.command == "AT+CSQ" and event.lines == ["+CSQ: 10,99"]


def test_receive_reports_a_timeout_that_passed_meanwhile():
    session = ATSession()
    session.command("AT", 0.0, 1.0)
    [event] = session.receive(b"\r\n+QIND", 5.0)
    assert isinstance(event, Timeout)


def test_an_overlong_line_is_dropped_up_to_its_end_and_framing_resumes():
    session = ATSession(max_line=32)
    session.command("AT+CSQ", 0.0, 1.0)
    events = _feed(session, b"\r\n" + b"X" * 100, step=10)
    events += _feed(session, b"Y" * 50 + b"\r\n+CSQ: 1,99\r\nOK\r\n")
    [event] = events
    assert event.lines == ["+CSQ: 1,99"]
    assert session.overlong_lines == 1
    assert len(session._buffer) <= 32


def test_noise_lines_are_dropped_not_passed_on():
    session = ATSession()
    session.command("AT+CGMI", 0.0, 1.0)
    [event] = _feed(session, b"\xff\x00\xfe\x1b[0m\r\n\xc3\x28\r\nQuectel\r\nOK\r\n")
    assert event.lines == ["Quectel"]
    assert session.noise_lines == 2


def test_a_response_keeps_at_most_max_lines():
    session = ATSession(max_lines=4)
    session.command("AT+QENG", 0.0, 1.0)
    [event] = _feed(session, b"".join(("line %d\r\n" % i).encode() for i in range(10)) + b"OK\r\n")
    assert event.lines == ["line 0", "line 1", "line 2", "line 3"]
    assert event.truncated


def test_one_command_at_a_time():
    session = ATSession()
    session.command("AT", 0.0, 1.0)
    try:
        session.command("AT+CSQ", 0.0, 1.0)
    except ATError as exc:
        assert "in flight" in str(exc)
    else:
        raise AssertionError("a second command was accepted while one is in flight")


def test_command_text_is_checked():
    session = ATSession()
    for bad in ("CSQ", "AT+CSQ\r", "AT+X\x00", "AT+\u00e9"):
        try:
            session.command(bad, 0.0, 1.0)
        except ATError:
            continue
        raise AssertionError("accepted %r" % (bad,))


def test_reset_forgets_the_command_in_flight_and_partial_input():
    session = ATSession()
    session.command("AT+CSQ", 0.0, 1.0)
    _feed(session, b"\r\n+CSQ: 1")
    session.reset()
    assert not session.busy
    [event] = _feed(session, b"\r\nRDY\r\n")
    assert event.line == "RDY"


def test_response_prefix_names_the_command():
    assert response_prefix('AT+QENG="servingcell"') == "+QENG:"
    assert response_prefix("AT+CPIN?") == "+CPIN:"
    assert response_prefix("at^hcsq?") == "^HCSQ:"
    assert response_prefix("AT!GSTATUS?") == "!GSTATUS:"
    assert response_prefix("AT#RFSTS") == "#RFSTS:"
    assert response_prefix("AT+COPS=3,2;+COPS?") == "+COPS:"
    assert response_prefix("ATI") == ""


PLAN_PREFIXES = ("+COPS:", "+CESQ:", "+QENG:", "+CSQ:")


def test_a_late_answer_in_flight_is_told_by_its_prefix_and_its_final_skipped():
    # AT+CSQ timed out; its answer arrives while AT+CESQ is in flight: its OK is not CESQ's
    session = ATSession()
    session.command("AT+CESQ", 0.0, 1.0, PLAN_PREFIXES)
    late = b"\r\n+CSQ: 21,99\r\n\r\nOK\r\n"
    ours = b"\r\n+CESQ: 99,99,255,255,20,46\r\n\r\nOK\r\n"
    for step in (0, 1, 7):
        session.reset()
        session.command("AT+CESQ", 0.0, 1.0, PLAN_PREFIXES)
        events = _feed(session, late + ours, 0.1, step)
        responses = [event for event in events if isinstance(event, Response)]
        assert [r.lines for r in responses] == [["+CESQ: 99,99,255,255,20,46"]], step
    assert session.late_answers == 3  # once per feeding


def test_a_late_answer_that_began_while_idle_still_owns_its_final():
    session = ATSession()
    session.command("AT+QENG", 0.0, 1.0, PLAN_PREFIXES)
    assert _feed(session, b"\r\n+QENG: 1\r\n\r\nOK\r\n", 0.1)[0].lines == ["+QENG: 1"]
    # the same command's answer delivered a second time (a retry): its first line while idle
    assert [event.line for event in _feed(session, b"\r\n+QENG: 1\r\n", 0.2)] == ["+QENG: 1"]
    session.command("AT+CSQ", 0.3, 1.0, PLAN_PREFIXES)
    [event] = _feed(session, b"\r\nOK\r\n\r\n+CSQ: 9,99\r\n\r\nOK\r\n", 0.4)
    assert event.lines == ["+CSQ: 9,99"]


def test_another_commands_echo_is_never_an_answer_line():
    # a resync's "AT" echoed late must not become the manufacturer +CGMI reads (issue 15)
    session = ATSession()
    session.command("AT+CGMI", 0.0, 1.0)
    [event] = _feed(session, b"AT\r\r\nOK\r\n\r\nQuectel\r\n\r\nOK\r\n", 0.1)
    assert event.lines == ["Quectel"]


def test_bare_boot_notices_are_unsolicited():
    session = ATSession()
    session.command("AT+CGMI", 0.0, 1.0)
    events = _feed(session, b"\r\n^SYSSTART\r\n\r\n+PBREADY\r\n\r\nHUAWEI\r\n\r\nOK\r\n", 0.1)
    assert [event.line for event in events[:2]] == ["^SYSSTART", "+PBREADY"]
    assert events[2].lines == ["HUAWEI"]
