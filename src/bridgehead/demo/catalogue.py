"""Fixed reference data of the demo: industries, geography, products, the stage ladder, titles, subjects."""

from __future__ import annotations

from dataclasses import dataclass

from bridgehead.crm.models import ForecastCategory

COMPANY_NAME = "Meridian Cloud"
EMAIL_DOMAIN = "meridian.example"

# (industry, share of accounts, median revenue per employee in USD)
INDUSTRIES: tuple[tuple[str, float, int], ...] = (
    ("Financial Services", 0.10, 420_000),
    ("Banking", 0.07, 380_000),
    ("Insurance", 0.07, 400_000),
    ("Healthcare", 0.10, 180_000),
    ("Manufacturing", 0.12, 250_000),
    ("Retail", 0.09, 210_000),
    ("Technology", 0.13, 330_000),
    ("Telecommunications", 0.04, 450_000),
    ("Energy & Utilities", 0.04, 600_000),
    ("Public Sector", 0.05, 120_000),
    ("Media", 0.04, 260_000),
    ("Transportation & Logistics", 0.06, 230_000),
    ("Education", 0.03, 110_000),
    ("Professional Services", 0.06, 200_000),
)
FINANCIAL_INDUSTRIES = frozenset({"Financial Services", "Banking", "Insurance"})

# Segments by head count; the thresholds the story and the tests speak of.
SMALL_MAX_EMPLOYEES = 200  # below this an account is a small business
ENTERPRISE_MIN_EMPLOYEES = 2_000

REGIONS: tuple[tuple[str, str], ...] = (("NA", "North America"), ("EMEA", "EMEA"), ("APAC", "APAC"))
# Share of accounts per region, in the order of REGIONS.
REGION_SHARES: tuple[float, ...] = (0.46, 0.34, 0.20)

# (country, share within its region, legal suffix of company names there)
COUNTRIES: tuple[tuple[tuple[str, float, str], ...], ...] = (
    (("United States", 0.86, "Inc."), ("Canada", 0.14, "Ltd.")),
    (
        ("United Kingdom", 0.30, "plc"),
        ("Germany", 0.22, "GmbH"),
        ("France", 0.14, "SA"),
        ("Netherlands", 0.08, "B.V."),
        ("Sweden", 0.06, "AB"),
        ("Switzerland", 0.07, "AG"),
        ("Spain", 0.06, "S.L."),
        ("United Arab Emirates", 0.07, "LLC"),
    ),
    (
        ("Australia", 0.34, "Pty Ltd"),
        ("Japan", 0.24, "K.K."),
        ("Singapore", 0.18, "Pte. Ltd."),
        ("India", 0.16, "Pvt. Ltd."),
        ("New Zealand", 0.08, "Ltd"),
    ),
)

# Weighted by where businesses actually concentrate, so the map looks plausible.
STATES: dict[str, tuple[tuple[str, float], ...]] = {
    "United States": (
        ("California", 0.16), ("New York", 0.12), ("Texas", 0.11), ("Illinois", 0.07), ("Massachusetts", 0.06),
        ("Florida", 0.07), ("Washington", 0.05), ("Georgia", 0.05), ("New Jersey", 0.05), ("Pennsylvania", 0.05),
        ("Ohio", 0.04), ("North Carolina", 0.04), ("Colorado", 0.04), ("Minnesota", 0.03), ("Virginia", 0.03),
        ("Michigan", 0.03),
    ),
    "Canada": (("Ontario", 0.45), ("Quebec", 0.22), ("British Columbia", 0.2), ("Alberta", 0.13)),
    "Australia": (
        ("New South Wales", 0.4), ("Victoria", 0.32), ("Queensland", 0.16), ("Western Australia", 0.12),
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class TeamArchetype:
    """One of the eight base teams; larger scales clone it into several teams of the same kind."""

    key: str  # used in external ids, e.g. NA-COMMERCIAL
    name: str
    region: int  # index into REGIONS
    kind: str  # enterprise, financial, midmarket or commercial
    rep_weight: float  # relative head count at scale 1 (sums to 60)


TEAM_ARCHETYPES: tuple[TeamArchetype, ...] = (
    TeamArchetype("NA-ENTERPRISE", "NA Enterprise", 0, "enterprise", 8),
    TeamArchetype("NA-MIDMARKET", "NA Mid-Market", 0, "midmarket", 8),
    TeamArchetype("NA-COMMERCIAL", "NA Commercial", 0, "commercial", 9),
    TeamArchetype("EMEA-ENTERPRISE", "EMEA Enterprise", 1, "enterprise", 7),
    TeamArchetype("EMEA-FINANCIAL", "EMEA Financial Services", 1, "financial", 7),
    TeamArchetype("EMEA-COMMERCIAL", "EMEA Commercial", 1, "commercial", 8),
    TeamArchetype("APAC-ENTERPRISE", "APAC Enterprise", 2, "enterprise", 6),
    TeamArchetype("APAC-COMMERCIAL", "APAC Commercial", 2, "commercial", 7),
)
# Teams that, against the upmarket intent, keep working small accounts (the story the gap board finds).
DRIFTING_KINDS = frozenset({"commercial", "midmarket"})

# Suffixes for the extra teams of an archetype at larger scales ("NA Commercial East").
TEAM_SUFFIXES: tuple[tuple[str, ...], ...] = (
    ("East", "West", "Central", "South", "Northeast", "Northwest", "Southeast", "Southwest", "Midwest",
     "Canada", "Mountain", "Pacific"),
    ("UK & Ireland", "DACH", "France", "Nordics", "Benelux", "Southern Europe", "Middle East", "Iberia",
     "Italy", "Central Europe", "Africa", "Israel"),
    ("ANZ", "Japan", "ASEAN", "India", "Greater China", "Korea", "Singapore", "Pacific Islands",
     "Indonesia", "Philippines", "Vietnam", "Thailand"),
)  # fmt: skip

PRODUCTS: tuple[str, ...] = (
    "Data Platform",
    "Analytics Cloud",
    "Security Suite",
    "Integration Hub",
    "AI Assistant",
    "Premium Support",
)
# Product mix per segment (small, mid, enterprise): big accounts buy the platform, small ones point tools.
PRODUCT_WEIGHTS: tuple[tuple[float, ...], ...] = (
    (0.10, 0.30, 0.15, 0.25, 0.15, 0.05),
    (0.25, 0.25, 0.15, 0.15, 0.12, 0.08),
    (0.35, 0.15, 0.20, 0.10, 0.10, 0.10),
)

DEAL_TYPES: tuple[str, ...] = ("New Business", "Expansion", "Renewal")
DEAL_TYPE_WEIGHTS: tuple[tuple[float, ...], ...] = (
    (0.62, 0.23, 0.15),
    (0.50, 0.30, 0.20),
    (0.38, 0.40, 0.22),
)
LEAD_SOURCES: tuple[str, ...] = ("Inbound", "Outbound", "Partner", "Event", "Referral")
LEAD_SOURCE_WEIGHTS: tuple[tuple[float, ...], ...] = (
    (0.42, 0.30, 0.06, 0.10, 0.12),
    (0.30, 0.36, 0.12, 0.12, 0.10),
    (0.15, 0.42, 0.20, 0.13, 0.10),
)
LOSS_REASONS: tuple[str, ...] = ("Price", "Lost to competitor", "No decision", "Timing", "Product fit")


@dataclass(frozen=True, slots=True)
class Stage:
    """A rung of the sales stage ladder."""

    name: str
    probability: int
    forecast_category: ForecastCategory


STAGES: tuple[Stage, ...] = (
    Stage("Prospecting", 10, ForecastCategory.PIPELINE),
    Stage("Qualification", 20, ForecastCategory.PIPELINE),
    Stage("Solution", 40, ForecastCategory.BEST_CASE),
    Stage("Proposal", 60, ForecastCategory.BEST_CASE),
    Stage("Negotiation", 80, ForecastCategory.COMMIT),
    Stage("Closed Won", 100, ForecastCategory.CLOSED),
    Stage("Closed Lost", 0, ForecastCategory.OMITTED),
)
WON_STAGE = 5
LOST_STAGE = 6

DEPARTMENTS: tuple[str, ...] = (
    "Finance", "IT", "Engineering", "Operations", "Data & Analytics", "Security", "Sales", "Marketing",
    "Procurement",
)  # fmt: skip
DEPARTMENT_WEIGHTS: tuple[float, ...] = (0.16, 0.2, 0.13, 0.12, 0.12, 0.08, 0.07, 0.06, 0.06)
# Titles per seniority level (0 C-level … 4 individual contributor), in the order of DEPARTMENTS.
TITLES: tuple[tuple[str, ...], ...] = (
    ("Chief Financial Officer", "Chief Information Officer", "Chief Technology Officer",
     "Chief Operating Officer", "Chief Data Officer", "Chief Information Security Officer",
     "Chief Revenue Officer", "Chief Marketing Officer", "Chief Procurement Officer"),
    ("VP Finance", "VP Information Technology", "VP Engineering", "VP Operations", "VP Data & Analytics",
     "VP Security", "VP Sales", "VP Marketing", "VP Procurement"),
    ("Director of Finance", "Director of IT", "Director of Engineering", "Director of Operations",
     "Director of Data & Analytics", "Director of Security", "Director of Sales Operations",
     "Director of Marketing", "Director of Procurement"),
    ("Finance Manager", "IT Manager", "Engineering Manager", "Operations Manager", "Analytics Manager",
     "Security Manager", "Sales Operations Manager", "Marketing Manager", "Procurement Manager"),
    ("Financial Analyst", "Systems Engineer", "Software Engineer", "Operations Analyst", "Data Analyst",
     "Security Engineer", "Sales Operations Analyst", "Marketing Analyst", "Procurement Specialist"),
)  # fmt: skip
SENIORITY_NAMES: tuple[str, ...] = ("C-level", "VP", "Director", "Manager", "Individual contributor")

CONTACT_ROLES: tuple[str, ...] = (
    "Economic Buyer",
    "Decision Maker",
    "Technical Buyer",
    "Evaluator",
    "Influencer",
    "Executive Sponsor",
    "Business User",
    "Other",
)
# Role choices per seniority level: senior people sponsor and sign, practitioners evaluate and use.
ROLES_BY_SENIORITY: tuple[tuple[int, ...], ...] = (
    (5, 0, 1, 5),
    (0, 1, 5, 1),
    (1, 2, 4, 2),
    (3, 2, 4, 6),
    (3, 6, 4, 7),
)

# Subjects per activity kind, early and late in a deal; "{p}" is the product, "{a}" the account.
SUBJECTS_EARLY: dict[str, tuple[str, ...]] = {
    "call": ("Discovery call", "Intro call re {p}", "Qualification call", "Follow-up call on use cases"),
    "email": ("Intro: {p} for {a}", "Follow-up after discovery", "Case study: {p}", "Agenda for next call"),
    "meeting": ("Discovery workshop", "{p} overview", "Stakeholder meeting", "Requirements session"),
    "task": (
        "Research {a} org chart",
        "Send {p} overview deck",
        "Log discovery notes",
        "Find the economic buyer",
    ),
}
SUBJECTS_LATE: dict[str, tuple[str, ...]] = {
    "call": ("Pricing call", "Negotiation call", "Reference call for {a}", "Procurement check-in"),
    "email": (
        "Proposal: {p}",
        "Revised quote for {a}",
        "Security questionnaire answers",
        "Contract redlines",
    ),
    "meeting": ("{p} demo", "Proposal review", "Executive alignment", "Mutual action plan review"),
    "task": ("Prepare proposal", "Update mutual action plan", "Send order form", "Confirm legal review date"),
}
SUBJECTS_ACCOUNT: dict[str, tuple[str, ...]] = {
    "call": ("Account check-in", "Quarterly business review prep", "Renewal health check", "Adoption call"),
    "email": ("Newsletter follow-up", "Invitation: customer summit", "Product update", "Webinar follow-up"),
    "meeting": (
        "Quarterly business review",
        "Executive briefing",
        "Account planning session",
        "Lunch meeting",
    ),
    "task": ("Update account plan", "Review usage report", "Map new stakeholders", "Plan next QBR"),
}
ACTIVITY_KINDS: tuple[str, ...] = ("call", "email", "meeting", "task")
