"""Dialect parsers on real response samples (runs under CPython and MicroPython).

Samples are the response layouts of the vendors' AT manuals (Quectel RG50xQ/RM5xxQ "QENG",
SIMCom SIM7500/SIM7600 "CPSI", Sierra "!GSTATUS", Huawei ME909s "HCSQ/MONSC", Fibocom FM150
"GTCCINFO", Telit LE910Cx "#RFSTS"), several as published in open-source modem tools, including
the odd ones: EN-DC over several lines, "-" placeholders, hex cell ids, negative placeholders.
"""

from agent.core import dialects
from agent.core.at import ATSession
from agent.core.dialects import fibocom, generic, huawei, quectel, sierra, simcom, telit
from agent.core.dialects.fields import band, hexadecimal, integer, number, params, plmn
from agent.core.radio import Poller, link_context, new_snapshot, record_values


def _fresh(tech=None):
    snapshot = new_snapshot()
    snapshot["registration"]["tech"] = tech
    return snapshot


def _poll(steps, answers):
    """Run a Poller over scripted answers {command: raw text after the command}."""
    session = ATSession()
    snapshot = new_snapshot()
    poller = Poller(session, steps, snapshot)
    out = poller.start(0.0)
    while not poller.done:
        command = out.decode().rstrip("\r")
        out = poller.receive(answers.get(command, "\r\nERROR\r\n").encode(), 0.0)
    return poller, snapshot


# -- fields ---------------------------------------------------------------------------------


def test_params_split_outside_quotes_only():
    assert params('"servingcell","NOCONN","LTE, FDD",262') == [
        "servingcell",
        "NOCONN",
        "LTE, FDD",
        "262",
    ]
    assert params("") == [""]
    assert len(params("," * 500)) == 64  # bounded


def test_placeholders_and_sentinels_are_unknown_not_zero():
    for text in ("-", "--", "", " ", "NA", "-32768", "32767", "x12", "1e3", None):
        assert integer(text) is None, text
    assert integer("0") == 0 and integer("-95") == -95 and integer("+7") == 7
    assert integer("200", -160, -30) is None  # out of the field's range
    assert number("-10.5") == -10.5 and number("-10.0") == -10 and number("-") is None
    assert number(".") is None and number("1.2.3") is None


def test_hex_ids():
    assert hexadecimal("1A2D003") == 0x1A2D003
    assert hexadecimal("0x2B5C") == 0x2B5C
    assert hexadecimal("A07F03001", 10) == 0xA07F03001
    assert hexadecimal("FFFFFFF") is None  # all ones: no cell
    assert hexadecimal("12G4") is None and hexadecimal("-") is None
    assert hexadecimal("123456789AB", 10) is None  # longer than the field can be


def test_bands_in_one_spelling_whatever_the_vendor_wrote():
    assert band("LTE", "3") == "B3"
    assert band(None, "LTE BAND 3") == "B3"
    assert band(None, "EUTRAN-BAND40") == "B40"
    assert band(None, "NR5G BAND 78") == "n78"
    assert band(None, "NR5G_BAND78") == "n78"
    assert band("NR", "78") == "n78"
    assert band(None, "B20") == "B20"
    assert band("LTE", "-1") is None  # negative: a placeholder, not band 1
    assert band("LTE", "-32768") is None
    assert band("LTE", "0") is None and band("LTE", "-") is None


def test_plmn_keeps_leading_zeros_and_three_digit_mncs():
    assert plmn("26201") == ("262", "01")
    assert plmn("262 01") == ("262", "01")
    assert plmn("404-45") == ("404", "45")
    assert plmn("310410") == ("310", "410")
    assert plmn("2620") == (None, None) and plmn("26a01") == (None, None)
    # "000 00": a Telit GSM module with no network (captures/telit-gsm-rfsts-no-plmn)
    assert plmn("000 00") == (None, None) and plmn("00101") == ("001", "01")


# -- generic 27.007 -------------------------------------------------------------------------


def test_csq_maps_to_dbm_and_99_is_unknown():
    assert generic.csq_rssi_dbm(0) == -113
    assert generic.csq_rssi_dbm(31) == -51
    assert generic.csq_rssi_dbm(20) == -73
    assert generic.csq_rssi_dbm(99) is None


def test_cesq_lte_levels():
    snapshot = _fresh("LTE")
    generic.parse_cesq(snapshot, ["+CESQ: 99,99,255,255,20,46,255,255,255"])
    cell = snapshot["serving_cell"]
    assert cell["rsrq_db"] == -10 and cell["rsrp_dbm"] == -95
    assert snapshot["nr"] is None  # 255: no NR measurement, no NR leg invented


def test_cesq_range_edges():
    snapshot = _fresh("LTE")
    generic.parse_cesq(snapshot, ["+CESQ: 99,99,255,255,0,0,255,255,255"])
    assert snapshot["serving_cell"]["rsrp_dbm"] == -141  # "below -140"
    assert snapshot["serving_cell"]["rsrq_db"] == -20
    snapshot = _fresh("LTE")
    generic.parse_cesq(snapshot, ["+CESQ: 99,99,255,255,34,97,255,255,255"])
    assert snapshot["serving_cell"]["rsrp_dbm"] == -44 and snapshot["serving_cell"]["rsrq_db"] == -3


def test_cesq_nr_fields_go_to_the_serving_cell_on_sa_and_to_the_nr_leg_on_nsa():
    line = ["+CESQ: 99,99,255,255,20,46,72,70,84"]
    sa = _fresh("NR5G-SA")
    generic.parse_cesq(sa, line)
    assert sa["serving_cell"]["rsrp_dbm"] == -87
    assert sa["serving_cell"]["rsrq_db"] == -7.5
    assert sa["serving_cell"]["sinr_db"] == 18.5
    nsa = _fresh("NR5G-NSA")
    generic.parse_cesq(nsa, line)
    assert nsa["serving_cell"]["rsrp_dbm"] == -95
    assert nsa["nr"]["rsrp_dbm"] == -87 and nsa["nr"]["sinr_db"] == 18.5


def test_registration_best_domain_wins_and_5gs_hex_cell_ids_are_read():
    snapshot = new_snapshot()
    generic.parse_creg(snapshot, ["+CREG: 0,0"])
    generic.parse_cereg(snapshot, ["+CEREG: 0,4"])
    generic.parse_c5greg(snapshot, ['+C5GREG: 2,1,"2F5E6","A07F03001",11'])
    assert snapshot["registration"] == {"state": "home", "tech": "NR5G-SA"}
    assert snapshot["serving_cell"]["cell_id"] == 0xA07F03001
    assert snapshot["serving_cell"]["tac"] == 0x2F5E6
    assert snapshot["serving_cell"]["tech"] == "NR5G-SA"


def test_registration_roaming_and_searching():
    snapshot = new_snapshot()
    generic.parse_cereg(snapshot, ['+CEREG: 2,5,"2B5C","01A2D003",7'])
    generic.parse_c5greg(snapshot, ["+C5GREG: 0,2"])  # lower rank: does not undo roaming
    assert snapshot["registration"] == {"state": "roaming", "tech": "LTE"}
    searching = new_snapshot()
    generic.parse_cereg(searching, ["+CEREG: 0,2"])
    assert searching["registration"] == {"state": "searching", "tech": None}
    assert searching["serving_cell"]["cell_id"] is None


def test_endc_registration_puts_lte_on_the_serving_cell():
    snapshot = new_snapshot()
    generic.parse_cereg(snapshot, ['+CEREG: 2,1,"2B5C","01A2D003",13'])
    assert snapshot["registration"]["tech"] == "NR5G-NSA"
    assert snapshot["serving_cell"]["tech"] == "LTE"


def test_cops_numeric_and_name_in_one_answer():
    snapshot = new_snapshot()
    generic.parse_cops(snapshot, ['+COPS: 0,2,"310410",7', '+COPS: 0,0,"AT&T",7'])
    assert snapshot["operator"] == {"mcc": "310", "mnc": "410", "name": "AT&T"}
    assert snapshot["registration"]["tech"] == "LTE"
    unregistered = new_snapshot()
    generic.parse_cops(unregistered, ["+COPS: 0", "+COPS: 0"])
    assert unregistered["operator"] == {"mcc": None, "mnc": None, "name": None}


def test_cpin_ready_and_no_sim():
    _, snapshot = _poll(generic.STEPS[:1], {"AT+CPIN?": "\r\n+CPIN: READY\r\n\r\nOK\r\n"})
    assert snapshot["sim"] == {"ready": True, "status": "READY"}
    poller, snapshot = _poll(generic.STEPS[:1], {"AT+CPIN?": "\r\n+CME ERROR: 10\r\n"})
    assert snapshot["sim"] == {"ready": False, "status": "not inserted"}
    assert poller.notes == ["AT+CPIN?: +CME ERROR: 10"]
    _, snapshot = _poll(generic.STEPS[:1], {"AT+CPIN?": "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"})
    assert snapshot["sim"] == {"ready": False, "status": "SIM PIN"}


def test_identification_strips_prefixes():
    snapshot = new_snapshot()
    generic.parse_cgmi(snapshot, ["Quectel"])
    generic.parse_cgmm(snapshot, ["+CGMM: RM520N-GL"])
    generic.parse_cgmr(snapshot, ["Revision: RM520NGLAAR03A03M4G"])
    assert (snapshot["manufacturer"], snapshot["model"], snapshot["revision"]) == (
        "Quectel",
        "RM520N-GL",
        "RM520NGLAAR03A03M4G",
    )


def test_identification_skips_a_late_answer_of_another_command():
    snapshot = new_snapshot()
    generic.parse_cgmi(snapshot, ["+CPIN: READY", "Quectel"])
    assert snapshot["manufacturer"] == "Quectel"
    generic.parse_cgmi(snapshot, ['+COPS: 0,0,"Telekom.de",7'])
    assert snapshot["manufacturer"] is None  # nothing of its own: unknown, not the operator


# -- Quectel --------------------------------------------------------------------------------


def test_quectel_lte_servingcell():
    # as published in openqti (EG25-G); trailing CQI/tx power absent on this firmware
    line = (
        '+QENG: "servingcell","NOCONN","LTE","FDD",214,01,7676A09,188,6300,20,3,3,603,'
        "-104,-9,-78,11,23"
    )
    snapshot = _fresh()
    quectel.parse_servingcell(snapshot, [line])
    cell = snapshot["serving_cell"]
    assert cell["tech"] == "LTE" and cell["cell_id"] == 0x7676A09 and cell["pci"] == 188
    assert cell["arfcn"] == 6300 and cell["band"] == "B20" and cell["bandwidth_mhz"] == 10
    assert cell["tac"] == 0x603
    assert (cell["rsrp_dbm"], cell["rsrq_db"], cell["rssi_dbm"]) == (-104, -9, -78)
    # no model known, and the EG25's LTE SINR coding is not settled: null, with the reason
    assert cell["sinr_db"] is None
    assert snapshot["operator"]["mcc"] == "214" and snapshot["operator"]["mnc"] == "01"
    assert snapshot["registration"]["tech"] == "LTE"


def test_quectel_lte_sinr_only_where_the_family_coding_is_known():
    # EC200T (4IceG/luci-app-3ginfo-lite issue 43): the poster's "SINR value requires no conversion"
    line = (
        '+QENG: "servingcell","NOCONN","LTE","FDD",123,01,43300C,348,1802,3,5,5,5443,'
        "-87,-16,-69,5,34"
    )
    for model, sinr, noted in (("EC200T", 5, False), ("RM520N-GL", None, True), (None, None, True)):
        snapshot = _fresh()
        snapshot["model"] = model
        reasons = quectel.parse_servingcell(snapshot, [line])
        assert snapshot["serving_cell"]["sinr_db"] == sinr, model
        assert any("SINR" in reason for reason in reasons) == noted, model


def test_quectel_nr_sinr_outside_its_range_is_not_guessed():
    # RM500Q on a callbox (freedesktop/libqmi PR 2): 180 where QMI read 18.5 dB
    lines = [
        '+QENG: "servingcell","NOCONN"',
        '+QENG: "LTE","FDD",1,01,1A2D001,1,1575,3,3,3,1,-70,-9,-46,25,-',
        '+QENG:"NR5G-NSA",1,01,500,-75,180,-11',
    ]
    snapshot = _fresh()
    reasons = quectel.parse_servingcell(snapshot, lines)
    assert snapshot["nr"]["sinr_db"] is None and snapshot["nr"]["rsrp_dbm"] == -75
    assert any("NR SINR" in reason for reason in reasons)


def test_quectel_nr5g_sa_servingcell():
    line = (
        '+QENG: "servingcell","NOCONN","NR5G-SA","TDD",454,12,A07F03001,66,2F5E6,627264,78,12,'
        "-85,-11,15,1,-"
    )
    snapshot = _fresh()
    quectel.parse_servingcell(snapshot, [line])
    cell = snapshot["serving_cell"]
    assert cell["tech"] == "NR5G-SA" and cell["cell_id"] == 0xA07F03001 and cell["tac"] == 0x2F5E6
    assert cell["arfcn"] == 627264 and cell["band"] == "n78" and cell["bandwidth_mhz"] == 100
    assert (cell["rsrp_dbm"], cell["rsrq_db"], cell["sinr_db"]) == (-85, -11, 15)
    assert snapshot["operator"] == {"mcc": "454", "mnc": "12", "name": None}


def test_quectel_endc_over_three_lines_with_placeholders():
    lines = [
        '+QENG: "servingcell","NOCONN"',
        '+QENG: "LTE","FDD",262,01,1A2D003,123,1300,3,5,5,2B5C,-95,-10,-65,14,-,-,-',
        '+QENG: "NR5G-NSA",262,01,345,-92,16,-9,627264,78,12,1',
    ]
    snapshot = _fresh()
    quectel.parse_servingcell(snapshot, lines)
    assert snapshot["registration"]["tech"] == "NR5G-NSA"
    assert snapshot["serving_cell"]["tech"] == "LTE" and snapshot["serving_cell"]["band"] == "B3"
    nr = snapshot["nr"]
    assert nr["tech"] == "NR5G-NSA" and nr["pci"] == 345 and nr["band"] == "n78"
    assert (nr["rsrp_dbm"], nr["sinr_db"], nr["rsrq_db"]) == (
        -92,
        16,
        -9,
    )  # NSA order: RSRP,SINR,RSRQ
    assert nr["cell_id"] is None  # NSA does not report the NR cell id: unknown, not 0


def test_quectel_rm500q_short_nsa_line_and_minus_placeholders():
    lines = [
        '+QENG: "servingcell","NOCONN"',
        '+QENG: "LTE","FDD",262,01,1A2D003,123,1300,3,5,5,2B5C,-95,-10,-65,14,-,-,-',
        '+QENG: "NR5G-NSA",262,01,-,-32768,-32768,-32768',
    ]
    snapshot = _fresh()
    quectel.parse_servingcell(snapshot, lines)
    nr = snapshot["nr"]
    assert nr["tech"] == "NR5G-NSA"
    assert nr["pci"] is None and nr["rsrp_dbm"] is None and nr["sinr_db"] is None
    assert nr["arfcn"] is None and nr["band"] is None


def test_quectel_searching_reports_no_cell():
    snapshot = _fresh()
    quectel.parse_servingcell(snapshot, ['+QENG: "servingcell","SEARCH"'])
    assert snapshot["serving_cell"]["tech"] is None and snapshot["registration"]["tech"] is None


def test_quectel_carrier_aggregation():
    lines = [
        '+QCAINFO: "PCC",1300,100,"LTE BAND 3",1,123,-95,-10,-65,14',
        '+QCAINFO: "SCC",6300,50,"LTE BAND 20",1,301,-101,-12,-70,8',
        '+QCAINFO: "SCC",627264,12,"NR5G BAND 78",345',
    ]
    snapshot = _fresh()
    quectel.parse_cainfo(snapshot, lines)
    pcc, scc, nr = snapshot["ca"]
    assert pcc["role"] == "pcc" and pcc["band"] == "B3" and pcc["bandwidth_mhz"] == 20
    assert scc["band"] == "B20" and scc["bandwidth_mhz"] == 10 and scc["rsrp_dbm"] == -101
    assert nr["band"] == "n78" and nr["pci"] == 345 and nr["bandwidth_mhz"] == 100
    assert nr["rsrp_dbm"] is None  # the short NR form has no levels


def test_quectel_temperature_both_formats():
    snapshot = _fresh()
    quectel.parse_temp(snapshot, ["+QTEMP: 36,35,38"])
    assert snapshot["temperature_c"] == 38
    snapshot = _fresh()
    quectel.parse_temp(
        snapshot,
        [
            '+QTEMP: "modem-lte-sub6-pa1","36"',
            '+QTEMP: "cpu0-a7-usr","44"',
            '+QTEMP: "aoss0-usr","-273"',
        ],
    )
    assert snapshot["temperature_c"] == 44


# -- SIMCom ---------------------------------------------------------------------------------


def test_simcom_lte_cpsi_tenths_and_coded_snr():
    # the sample of the SIM7500/SIM7600 manual as quoted in public drivers
    line = "+CPSI: LTE,Online,404-45,0x21F9,322642,453,EUTRAN-BAND40,39275,4,4,-168,-1126,-773,7"
    snapshot = _fresh()
    simcom.parse_cpsi(snapshot, [line])
    cell = snapshot["serving_cell"]
    assert snapshot["operator"]["mcc"] == "404" and snapshot["operator"]["mnc"] == "45"
    assert cell["tac"] == 0x21F9 and cell["cell_id"] == 322642 and cell["pci"] == 453
    assert cell["band"] == "B40" and cell["arfcn"] == 39275 and cell["bandwidth_mhz"] == 15
    assert (cell["rsrq_db"], cell["rsrp_dbm"], cell["rssi_dbm"]) == (-16.8, -112.6, -77.3)
    assert cell["sinr_db"] == -6  # 2 * 7 - 20


def test_simcom_nr_sa_and_endc():
    sa = _fresh()
    simcom.parse_cpsi(
        sa,
        ["+CPSI: NR5G_SA,Online,460-11,0xCFA102,55744245764,196,NR5G_BAND78,627264,-940,-110,155"],
    )
    cell = sa["serving_cell"]
    assert cell["tech"] == "NR5G-SA" and cell["cell_id"] == 55744245764 and cell["band"] == "n78"
    assert (cell["rsrp_dbm"], cell["rsrq_db"], cell["sinr_db"]) == (-94, -11, 15.5)
    nsa = _fresh()
    simcom.parse_cpsi(
        nsa,
        [
            "+CPSI: LTE,Online,262-01,0x2B5C,27447299,123,EUTRAN-BAND3,1300,5,5,-100,-950,-650,17",
            "+CPSI: NR5G_NSA,345,NR5G_BAND78,627264,-920,-95,165",
        ],
    )
    assert nsa["registration"]["tech"] == "NR5G-NSA"
    assert nsa["serving_cell"]["tech"] == "LTE" and nsa["nr"]["rsrp_dbm"] == -92


def test_simcom_no_service():
    snapshot = _fresh()
    simcom.parse_cpsi(snapshot, ["+CPSI: NO SERVICE,Online"])
    assert snapshot["serving_cell"]["tech"] is None and snapshot["operator"]["mcc"] is None


# -- Sierra ---------------------------------------------------------------------------------

GSTATUS = [
    "!GSTATUS:",
    "Current Time:  4081\t\tTemperature: 38",
    "Reset Counter: 1\t\tMode:        ONLINE",
    "System mode:   LTE\t\tPS state:    Attached",
    "LTE band:      B3\t\tLTE bw:      20 MHz",
    "LTE Rx chan:   1300\t\tLTE Tx chan: 19300",
    "EMM state:     Registered     Normal Service",
    "PCC RxM RSSI:  -65\t\tRSRP (dBm):  -95",
    "PCC RxD RSSI:  -67\t\tRSRP (dBm):  -97",
    "Tx Power:      --\t\tTAC:         2B5C (11100)",
    "RSRQ (dB):     -10.0\t\tCell ID:     01A2D003 (27447299)",
    "SINR (dB):     12.4",
]


def test_sierra_gstatus_table():
    assert sierra.pairs(GSTATUS)["RSRP (dBm)"] == "-95"  # the first (main antenna) wins
    snapshot = _fresh()
    sierra.parse_gstatus(snapshot, GSTATUS)
    cell = snapshot["serving_cell"]
    assert cell["tech"] == "LTE" and cell["band"] == "B3" and cell["bandwidth_mhz"] == 20
    assert cell["arfcn"] == 1300 and cell["tac"] == 0x2B5C and cell["cell_id"] == 0x01A2D003
    assert (cell["rsrp_dbm"], cell["rsrq_db"], cell["sinr_db"], cell["rssi_dbm"]) == (
        -95,
        -10,
        12.4,
        -65,
    )
    assert snapshot["temperature_c"] == 38


def test_sierra_no_service_reads_nothing():
    snapshot = _fresh()
    sierra.parse_gstatus(
        snapshot, ["!GSTATUS:", "System mode:   NO SERVICE\tPS state:    Not attached"]
    )
    assert snapshot["serving_cell"]["tech"] is None and snapshot["serving_cell"]["rsrp_dbm"] is None


# -- Huawei ---------------------------------------------------------------------------------


def test_huawei_hcsq_lte_coding_and_unknowns():
    snapshot = _fresh()
    huawei.parse_hcsq(snapshot, ['^HCSQ: "LTE",56,45,141,20'])
    cell = snapshot["serving_cell"]
    assert (cell["rssi_dbm"], cell["rsrp_dbm"], cell["sinr_db"], cell["rsrq_db"]) == (
        -65,
        -96,
        8,
        -10,
    )
    unknown = _fresh()
    huawei.parse_hcsq(unknown, ['^HCSQ: "LTE",255,255,255,255'])
    assert (
        unknown["serving_cell"]["rsrp_dbm"] is None and unknown["serving_cell"]["sinr_db"] is None
    )
    nothing = _fresh()
    huawei.parse_hcsq(nothing, ['^HCSQ: "NOSERVICE"'])
    assert nothing["serving_cell"]["tech"] is None


def test_huawei_monsc_lte_and_nr_print_pci_and_tac_in_hex():
    # the firmware's format strings print cell id, PCI and TAC with %X (docs/modems.md)
    snapshot = _fresh()
    huawei.parse_monsc(snapshot, ["^MONSC: LTE,262,01,1300,1A2D003,7B,2B5C,-96,-10,-65"])
    cell = snapshot["serving_cell"]
    assert cell["cell_id"] == 0x1A2D003 and cell["tac"] == 0x2B5C and cell["pci"] == 123
    nr = _fresh()
    huawei.parse_monsc(nr, ["^MONSC: NR,460,00,636648,0,10321,1FA,2F01,-82,-9,12"])
    cell = nr["serving_cell"]
    assert (cell["tech"], cell["cell_id"], cell["pci"], cell["tac"]) == (
        "NR5G-SA",
        0x10321,
        506,
        0x2F01,
    )
    assert (cell["rsrp_dbm"], cell["rsrq_db"], cell["sinr_db"]) == (-82, -9, 12)
    beyond = _fresh()
    huawei.parse_monsc(beyond, ["^MONSC: NR,460,00,636648,0,10321,3F0,2F01,-82,-9,12"])
    assert beyond["serving_cell"]["pci"] is None  # 0x3F0 = 1008: no NR PCI


def test_huawei_hcsq_never_overwrites_a_level_monsc_gave_in_dbm():
    _, snapshot = _poll(
        huawei.STEPS,
        {
            "AT^MONSC": "\r\n^MONSC: LTE,262,01,1300,1A2D003,7B,2B5C,-96,-10,-65\r\n\r\nOK\r\n",
            "AT^HCSQ?": '\r\n^HCSQ: "LTE",56,40,141,20\r\n\r\nOK\r\n',
        },
    )
    cell = snapshot["serving_cell"]
    # ^HCSQ's buckets would say -101 dBm / -10 dB / -65 dBm; the dBm readings stand
    assert (cell["rsrp_dbm"], cell["rsrq_db"], cell["rssi_dbm"]) == (-96, -10, -65)
    assert cell["sinr_db"] == 8  # only ^HCSQ has a SINR: it fills that one


# -- Fibocom --------------------------------------------------------------------------------


# real lines: FM150 from 4IceG/luci-app-3ginfo-lite PR 32, FM350 from PR 70 and issue 122
FM150_LTE = [
    "+GTCCINFO:",
    "LTE service cell:",
    "1,4,262,02,BFD3,2D4201,189C,30,120,50,16,42,42,26",
    "LTE neighbor cell:",
    "2,4,,,,,189C,190,,24,24,2",
]
FM350_LTE = ["+GTCCINFO:", "1,4,250,1,1234,000123456,1802,470,103,100,-4,39,39,7"]


def test_fibocom_hex_channel_and_pci_told_by_the_service_cell_header():
    snapshot = _fresh()
    fibocom.parse_ccinfo(snapshot, FM150_LTE)  # no model: the header alone tells
    cell = snapshot["serving_cell"]
    assert (cell["arfcn"], cell["pci"], cell["band"]) == (0x189C, 0x30, "B20")
    assert (cell["tac"], cell["cell_id"]) == (0xBFD3, 0x2D4201)
    assert (cell["rsrp_dbm"], cell["rsrq_db"], cell["bandwidth_mhz"]) == (-99, -7, 10)


def test_fibocom_hex_told_by_a_hex_digit_in_the_answer():
    snapshot = _fresh()
    fibocom.parse_ccinfo(
        snapshot, ["+GTCCINFO:", "1,4,262,02,BFD3,2D4201,189C,30,120,50,16,42,42,26"]
    )
    assert (snapshot["serving_cell"]["arfcn"], snapshot["serving_cell"]["pci"]) == (6300, 48)


def test_fibocom_decimal_by_model_and_unknown_base_left_null():
    snapshot = _fresh()
    snapshot["model"] = "FM350-GL"
    fibocom.parse_ccinfo(snapshot, FM350_LTE)
    assert (snapshot["serving_cell"]["arfcn"], snapshot["serving_cell"]["pci"]) == (1802, 470)
    unknown = _fresh()
    reasons = fibocom.parse_ccinfo(unknown, FM350_LTE)
    assert unknown["serving_cell"]["arfcn"] is None and unknown["serving_cell"]["pci"] is None
    assert unknown["serving_cell"]["rsrp_dbm"] == -102  # what does not depend on the base stays
    assert any("hex or decimal" in reason for reason in reasons)


def test_fibocom_sinr_is_never_guessed():
    for lines in (FM150_LTE, FM350_LTE):
        snapshot = _fresh()
        reasons = fibocom.parse_ccinfo(snapshot, lines)
        assert snapshot["serving_cell"]["sinr_db"] is None
        assert any("SINR" in reason for reason in reasons)


def test_fibocom_band_codes():
    assert fibocom.band_of_code("103") == "B3" and fibocom.band_of_code("120") == "B20"
    assert fibocom.band_of_code("5079") == "n79" and fibocom.band_of_code("5005") == "n5"
    assert fibocom.band_of_code("505") == "n5"  # one FM350 firmware drops the zero
    assert fibocom.band_of_code("") is None and fibocom.band_of_code("100") is None
    assert fibocom.band_of_code("50") is None and fibocom.band_of_code("x") is None


def test_fibocom_endc_nr_leg_and_all_ones_ids():
    lines = [
        "+GTCCINFO:",
        "1,4,250,1,1234,001234567,1721,223,103,50,6,62,62,18",
        "1,9,,,FFFFFFF,00FFFFFFF,723322,143,5079,500,13,68,68,80",
        "2,4,,,FFFF,00FFFFFFF,1721,160,,53,53,0",
    ]
    snapshot = _fresh()
    snapshot["model"] = "FM350-GL"
    fibocom.parse_ccinfo(snapshot, lines)
    assert snapshot["serving_cell"]["band"] == "B3" and snapshot["serving_cell"]["pci"] == 223
    nr = snapshot["nr"]
    assert (nr["tech"], nr["band"], nr["arfcn"], nr["pci"]) == ("NR5G-NSA", "n79", 723322, 143)
    assert nr["cell_id"] is None and nr["tac"] is None  # all-ones, zero-padded too
    assert (nr["rsrp_dbm"], nr["rsrq_db"], nr["bandwidth_mhz"]) == (-89, -3.5, None)
    assert snapshot["registration"]["tech"] == "NR5G-NSA"


# -- Telit ----------------------------------------------------------------------------------

RFSTS = (
    '#RFSTS: "262 01",1300,-95,-65,-10,2B5C,FF,0,128,19,1,01A2D003,"262011234567890",'
    '"Telekom.de",3,3,720,3240,160'
)


def test_telit_rfsts_and_the_imsi_never_enters_the_snapshot():
    snapshot = _fresh()
    telit.parse_rfsts(snapshot, [RFSTS])
    cell = snapshot["serving_cell"]
    assert cell["tech"] == "LTE" and cell["arfcn"] == 1300 and cell["band"] == "B3"
    assert (cell["rsrp_dbm"], cell["rssi_dbm"], cell["rsrq_db"], cell["sinr_db"]) == (
        -95,
        -65,
        -10,
        12,
    )
    assert cell["tac"] == 0x2B5C and cell["cell_id"] == 0x01A2D003
    assert snapshot["operator"] == {"mcc": "262", "mnc": "01", "name": "Telekom.de"}
    assert "262011234567890" not in repr(snapshot)


# -- detection, plans, degradation, records -------------------------------------------------


def test_detection_from_identification():
    cases = (
        ("Quectel", "RM520N-GL", "quectel"),
        ("SIMCOM INCORPORATED", "SIMCOM_SIM7600E-H", "simcom"),
        ("Sierra Wireless, Incorporated", "EM7565", "sierra"),
        ("Huawei Technologies Co., Ltd.", "ME909s-120", "huawei"),
        ("Fibocom Wireless Inc.", "FM150-AE", "fibocom"),
        ("Telit", "LE910C1-EU", "telit"),
        ("QUALCOMM INCORPORATED", "RM500Q-GL", "quectel"),  # chipset vendor: the model decides
        ("ACME Radio", "AR-4100", "generic"),
        (None, None, "generic"),
    )
    for maker, model, expected in cases:
        assert dialects.detect(maker, model) == expected, (maker, model)


def test_every_vendor_plan_starts_with_the_generic_steps():
    for name in dialects.NAMES:
        steps = dialects.plan(name)
        assert steps[: len(generic.STEPS)] == generic.STEPS
    try:
        dialects.plan("nokia")
    except dialects.DialectError as exc:
        assert "nokia" in str(exc) and "quectel" in str(exc)
    else:
        raise AssertionError("unknown dialect accepted")


GENERIC_ANSWERS = {
    "AT+CPIN?": "\r\n+CPIN: READY\r\n\r\nOK\r\n",
    generic.COPS_BOTH: '\r\n+COPS: 0,2,"26201",7\r\n+COPS: 0,0,"Telekom.de",7\r\n\r\nOK\r\n',
    "AT+CREG?": "\r\n+CREG: 0,1\r\n\r\nOK\r\n",
    "AT+CEREG?": '\r\n+CEREG: 2,1,"2B5C","01A2D003",7\r\n\r\nOK\r\n',
    "AT+CSQ": "\r\n+CSQ: 24,99\r\n\r\nOK\r\n",
    "AT+CESQ": "\r\n+CESQ: 99,99,255,255,20,46,255,255,255\r\n\r\nOK\r\n",
}


def test_a_vendor_command_answered_with_error_degrades_to_the_generic_readings():
    poller, snapshot = _poll(dialects.plan("quectel"), GENERIC_ANSWERS)
    assert poller.done and poller.failed is None
    assert (
        snapshot["serving_cell"]["rsrp_dbm"] == -95
        and snapshot["serving_cell"]["cell_id"] == 0x01A2D003
    )
    assert snapshot["registration"] == {"state": "home", "tech": "LTE"}
    assert 'AT+QENG="servingcell": ERROR' in poller.notes
    assert "AT+C5GREG?: ERROR" in poller.notes


def test_a_timeout_ends_the_poll_and_says_which_command():
    session = ATSession()
    poller = Poller(session, generic.STEPS, new_snapshot(), timeout_cap_s=1.0)
    poller.start(0.0)
    poller.receive(b"\r\n+CPIN: READY\r\nOK\r\n", 0.1)
    assert not poller.done
    assert poller.tick(1.0) == b""
    assert poller.tick(1.1) == b""
    assert poller.done and "AT+COPS" in poller.failed and "1s" in poller.failed


def test_a_reboot_during_a_poll_ends_it_at_once():
    session = ATSession()
    poller = Poller(session, generic.STEPS, new_snapshot())
    poller.start(0.0)
    poller.receive(b"\r\nRDY\r\n", 0.1)
    assert poller.done and poller.rebooted and "rebooted" in poller.failed
    assert not session.busy


def test_a_parser_that_fails_on_odd_input_is_noted_not_raised():
    def broken(snapshot, lines):
        raise ValueError("odd")

    poller, _ = _poll((("AT+CSQ", broken, 1.0),), {"AT+CSQ": "\r\n+CSQ: 1,1\r\nOK\r\n"})
    assert poller.done and poller.failed is None
    assert poller.notes == ["AT+CSQ: unreadable answer (odd)"]


def test_record_values_and_link_context():
    _, snapshot = _poll(dialects.plan("generic"), GENERIC_ANSWERS)
    snapshot["manufacturer"] = "ACME"
    values = record_values(snapshot)
    assert "manufacturer" not in values and values["serving_cell"]["rsrp_dbm"] == -95
    context = link_context(snapshot)
    assert context == {
        "tech": "LTE",
        "registration": "home",
        "mcc": "262",
        "mnc": "01",
        "serving_cell": {"tech": "LTE", "cell_id": 0x01A2D003, "rsrp_dbm": -95, "rsrq_db": -10},
    }


# #RFSTS layouts, built from the field lists of Telit's AT reference guides (no public capture
# of a Telit module was found; docs/modems.md): the IMSI places the fields after the TAC
RFSTS_NO_TXPWR = (
    '#RFSTS: "262 01",1300,-95,-65,-10,2B5C,,128,3,1,01A2D003,"262011234567890","Telekom.de",3,3'
)
RFSTS_UMTS = (
    '#RFSTS: "262 01",10737,129,-6,-85,-79,2B5C,FF,0,128,19,1,0,0,01A2D03,"262011234567890",'
    '"Telekom.de",3,1'
)


def test_telit_rfsts_without_txpwr_is_placed_by_its_imsi():
    snapshot = _fresh()
    telit.parse_rfsts(snapshot, [RFSTS_NO_TXPWR])
    cell = snapshot["serving_cell"]
    assert (cell["cell_id"], cell["band"], cell["tac"]) == (0x01A2D003, "B3", 0x2B5C)
    assert snapshot["operator"]["name"] == "Telekom.de" and cell["sinr_db"] is None
    assert "262011234567890" not in repr(snapshot)


def test_telit_umts_layout_is_not_read_as_lte():
    snapshot = _fresh()  # registration not known: the layout itself tells
    reasons = telit.parse_rfsts(snapshot, [RFSTS_UMTS])
    assert snapshot["serving_cell"] == new_snapshot()["serving_cell"]
    assert snapshot["operator"]["mcc"] == "262" and any("field 16" in r for r in reasons)


def test_telit_without_an_imsi_reads_nothing_past_the_tac():
    snapshot = _fresh()
    reasons = telit.parse_rfsts(snapshot, ['#RFSTS: "262 01",1300,-95,-65,-10,2B5C,FF,0,128,19'])
    cell = snapshot["serving_cell"]
    assert (cell["arfcn"], cell["rsrp_dbm"], cell["tac"]) == (1300, -95, 0x2B5C)
    assert cell["cell_id"] is None and cell["band"] is None and reasons
