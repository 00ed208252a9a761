"""The demo's constants and tables: logins, stores, tiers, the points scale's actions, the
product catalogue, names, shopping profiles and seasons, and the reward catalogue."""

from decimal import Decimal

from loyalty.models import ActionRule, Store
from rewards.models import Reward

DEFAULT_MEMBERS = 150
DEFAULT_SEED = 2024
MIN_MEMBERS = 5
HISTORY_DAYS = 730
DEMO_PASSWORD = "demo-password"  # noqa: S105 - the documented demo password
CUSTOMER_EMAIL = "marie@example.com"
CASHIER_EMAIL = "cashier@example.com"
ADMIN_EMAIL = "admin@example.com"
ORDER_PREFIX = "DEMO-"
CENT = Decimal("0.01")

STORES = [("paris", "Paris — Rue de Rivoli", Store.Kind.IN_STORE),
          ("lyon", "Lyon — Presqu'île", Store.Kind.IN_STORE),
          ("web", "E-shop", Store.Kind.ONLINE)]

TIERS = [
    ("bronze", "Bronze", 0, "0", "1.00",
     "1 point per euro spent\n150 points on your birthday\nMember-only offers"),
    ("silver", "Silver", 1, "500", "1.25",
     "25% more points on every purchase\nFree delivery from the e-shop\nEarly access to sales"),
    ("gold", "Gold", 2, "1500", "1.50",
     "50% more points on every purchase\nFree delivery and returns\n"
     "Private shopping evenings\nA dedicated customer service line"),
]

# What French members read of the tiers (name, benefits), rules and actions: the French
# columns of their translated fields (loyalty/translation.py).
TIERS_FR = {
    "bronze": ("Bronze", "1 point par euro dépensé\n150 points pour votre anniversaire\n"
                         "Des offres réservées aux membres"),
    "silver": ("Argent", "25 % de points en plus sur chaque achat\nLivraison offerte sur "
                         "l’e-shop\nAccès anticipé aux soldes"),
    "gold": ("Or", "50 % de points en plus sur chaque achat\nLivraison et retours offerts\n"
                   "Soirées shopping privées\nUn service client dédié"),
}
NAMES_FR = {
    "1 point per euro": "1 point par euro",
    "3 points per euro on shoes": "3 points par euro sur les chaussures",
    "Double points weekend": "Points doublés le week-end",
    "Black Friday weekend": "Week-end du Black Friday",
    "Welcome bonus": "Bonus de bienvenue",
    "Newsletter sign-up": "Inscription à la newsletter",
    "Product review": "Avis sur un produit",
    "Referring a friend": "Parrainage d’un ami",
    "Birthday bonus": "Bonus d’anniversaire",
}

ACTION_RULES = [  # event type, name, points, limit, period
    ("account_created", "Welcome bonus", 50, 1, ActionRule.Period.EVER),
    ("newsletter_signup", "Newsletter sign-up", 100, 1, ActionRule.Period.EVER),
    ("review_posted", "Product review", 20, 5, ActionRule.Period.MONTH),
    ("referral", "Referring a friend", 200, None, ActionRule.Period.EVER),
    ("birthday", "Birthday bonus", 150, 1, ActionRule.Period.YEAR),
]

REVIEWS = [  # (rating, comment): customers' own words, so not translated
    (5, "Friendly staff and quick service."),
    (4, ""),
    (5, ""),
    (4, "Good quality, a little pricey."),
    (3, "Fine, but the queue was long."),
    (5, "Exactly what I was looking for."),
    (2, "The size was wrong and nobody could help."),
    (4, ""),
    (1, "Parcel arrived damaged."),
    (5, "Lovely shop."),
]

CATALOGUE = {  # category: [(sku, unit price)], with how often the category is bought
    "clothing": (40, [("CL-TSHIRT", "19.90"), ("CL-JEANS", "59.90"), ("CL-SWEATER", "49.90"),
                      ("CL-DRESS", "79.00"), ("CL-JACKET", "129.00"), ("CL-SOCKS3", "12.90")]),
    "shoes": (20, [("SH-RUNNING", "89.90"), ("SH-SNEAKERS", "119.00"), ("SH-BOOTS", "149.00"),
                   ("SH-SANDALS", "49.90")]),
    "accessories": (20, [("AC-BELT", "29.90"), ("AC-SCARF", "24.90"), ("AC-TOTE", "35.00"),
                         ("AC-CAP", "19.00"), ("AC-SUNGLASSES", "65.00")]),
    "beauty": (20, [("BE-LIPBALM", "6.50"), ("BE-HANDCREAM", "9.90"), ("BE-PERFUME", "59.00"),
                    ("BE-SERUM", "34.90")]),
}

FRENCH = (["Camille", "Léa", "Manon", "Chloé", "Inès", "Jade", "Louise", "Emma", "Juliette",
           "Mathilde", "Élodie", "Margaux", "Céline", "Aurélie", "Lucas", "Hugo", "Louis",
           "Gabriel", "Arthur", "Jules", "Nathan", "Théo", "Raphaël", "Antoine", "Thomas",
           "Clément", "Baptiste", "Nicolas", "Julien", "François"],
          ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
           "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David",
           "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Lefèvre",
           "Mercier", "Lambert", "Bonnet", "Fontaine", "Chevalier", "Rousseau"])
ENGLISH = (["Oliver", "George", "Harry", "Jack", "Charlie", "James", "William", "Daniel",
            "Amelia", "Olivia", "Isla", "Emily", "Sophie", "Grace", "Charlotte", "Hannah",
            "Lucy", "Ella"],
           ["Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson",
            "Johnson", "Roberts", "Walker", "Wright", "Robinson", "Thompson", "Hughes",
            "Green", "Hall", "Clarke", "Wood", "O'Brien"])

# Purchases per 30 days while a member is active.
PROFILES = {"loyal": (12, 2.0), "regular": (33, 0.6), "occasional": (35, 0.25),
            "lapsed": (12, 2.5), "new": (8, 1.0)}
SEASON = {1: 1.2, 2: 0.8, 3: 0.9, 4: 1.0, 5: 1.0, 6: 1.1, 7: 1.1, 8: 0.7, 9: 1.0, 10: 1.0,
          11: 1.3, 12: 1.6}
PROMOTION_BOOST = 2.5
PEAK = max(SEASON.values()) * PROMOTION_BOOST

# The reward catalogue. Stock: None is unlimited; stores: codes, empty is everywhere.
REWARDS = [
    {"key": "shipping", "name": "Free delivery", "name_fr": "Livraison offerte",
     "description": "Free delivery on your next e-shop order, whatever its amount.",
     "description_fr": "La livraison offerte sur votre prochaine commande en ligne, quel "
                       "qu'en soit le montant.",
     "kind": Reward.Kind.FREE_SHIPPING, "value": "0", "points_cost": 150, "stores": ["web"],
     "voucher_validity_days": 30, "limit_count": 1, "limit_period": Reward.Period.MONTH},
    {"key": "voucher5", "name": "€5 voucher", "name_fr": "Bon d'achat de 5 €",
     "description": "€5 off a purchase, in store or online.",
     "description_fr": "5 € de réduction sur un achat, en boutique ou en ligne.",
     "kind": Reward.Kind.AMOUNT, "value": "5", "points_cost": 250},
    {"key": "percent10", "name": "10% off your next purchase",
     "name_fr": "-10 % sur votre prochain achat",
     "description": "10% off a whole basket, once a month.",
     "description_fr": "10 % de réduction sur tout le panier, une fois par mois.",
     "kind": Reward.Kind.PERCENT, "value": "10", "points_cost": 400, "limit_count": 1,
     "limit_period": Reward.Period.MONTH},
    {"key": "tote", "name": "Organic cotton tote bag", "name_fr": "Tote bag en coton bio",
     "description": "Our tote bag, to collect in store. While stocks last.",
     "description_fr": "Notre tote bag, à retirer en boutique. Dans la limite des stocks.",
     "kind": Reward.Kind.GIFT, "value": "0", "points_cost": 600, "stock": 25,
     "stores": ["paris", "lyon"], "limit_count": 1, "limit_period": Reward.Period.EVER},
    {"key": "perfume", "name": "Perfume discovery set", "name_fr": "Coffret découverte parfums",
     "description": "Five 2 ml samples of our perfumes, to collect in store.",
     "description_fr": "Cinq échantillons de 2 ml de nos parfums, à retirer en boutique.",
     "kind": Reward.Kind.GIFT, "value": "0", "points_cost": 750, "stock": 20,
     "stores": ["paris", "lyon"]},
    {"key": "voucher20", "name": "€20 voucher", "name_fr": "Bon d'achat de 20 €",
     "description": "€20 off a purchase, in store or online.",
     "description_fr": "20 € de réduction sur un achat, en boutique ou en ligne.",
     "kind": Reward.Kind.AMOUNT, "value": "20", "points_cost": 900},
    {"key": "evening", "name": "Private shopping evening for two",
     "name_fr": "Soirée shopping privée pour deux",
     "description": "An evening in our Paris shop after closing, with a stylist and a glass "
                    "of champagne.",
     "description_fr": "Une soirée dans notre boutique de Paris après la fermeture, avec une "
                       "styliste et une coupe de champagne.",
     "kind": Reward.Kind.EXPERIENCE, "value": "0", "points_cost": 1200, "tier": "gold",
     "stock": 12, "stores": ["paris"], "voucher_validity_days": 90},
]
# Redemption attempts per year while a member is active, by profile.
REDEMPTIONS_PER_YEAR = {"loyal": 2.5, "regular": 1.0, "occasional": 0.4, "lapsed": 0.5,
                        "new": 0.5}
