"""Morocco's 12 regions (2015 division; ISO 3166-2:MA codes) and the access technologies we tell
apart, with the French and Arabic names the dashboard shows."""

from __future__ import annotations

# code → (French, Arabic)
REGIONS: dict[str, tuple[str, str]] = {
    "MA-01": ("Tanger-Tétouan-Al Hoceïma", "طنجة تطوان الحسيمة"),
    "MA-02": ("L'Oriental", "الشرق"),
    "MA-03": ("Fès-Meknès", "فاس مكناس"),
    "MA-04": ("Rabat-Salé-Kénitra", "الرباط سلا القنيطرة"),
    "MA-05": ("Béni Mellal-Khénifra", "بني ملال خنيفرة"),
    "MA-06": ("Casablanca-Settat", "الدار البيضاء سطات"),
    "MA-07": ("Marrakech-Safi", "مراكش آسفي"),
    "MA-08": ("Drâa-Tafilalet", "درعة تافيلالت"),
    "MA-09": ("Souss-Massa", "سوس ماسة"),
    "MA-10": ("Guelmim-Oued Noun", "كلميم واد نون"),
    "MA-11": ("Laâyoune-Sakia El Hamra", "العيون الساقية الحمراء"),
    "MA-12": ("Dakhla-Oued Ed-Dahab", "الداخلة وادي الذهب"),
}

# code → (French, Arabic)
TECHNOLOGIES: dict[str, tuple[str, str]] = {
    "5G-FWA": ("5G fixe sans fil", "الجيل الخامس اللاسلكي الثابت"),
    "4G": ("4G", "الجيل الرابع"),
    "FTTH": ("Fibre optique", "الألياف البصرية"),
}
