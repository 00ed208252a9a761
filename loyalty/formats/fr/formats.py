# The programme's French formats: "29 nov. 2026", "29 nov. 2026 14:05"; numbers as
# Django's French ones ("1 234,50").
# What is not set here comes from Django's own French formats.
DATE_FORMAT = "j N Y"
DATETIME_FORMAT = "j N Y H:i"
SHORT_DATE_FORMAT = "j N Y"
SHORT_DATETIME_FORMAT = "j N Y H:i"
MONTH_DAY_FORMAT = "j N"
YEAR_MONTH_FORMAT = "F Y"
TIME_FORMAT = "H:i"
