"""Seeded synthetic customers: duplicates with realistic variations, and look-alikes who are other people.

Everything is drawn from a `random.Random` handed in, and Faker is re-seeded from it before each use,
so the same seed gives the same data set on every machine with the same Faker version.
"""

from __future__ import annotations

import copy
import hashlib
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import phonenumbers
from faker import Faker

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES")
LOCALE_WEIGHTS = (0.45, 0.2, 0.13, 0.12, 0.1)
COUNTRY = {"en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "es_ES": "ES"}
CALLING_CODE = {"US": "1", "GB": "44", "DE": "49", "FR": "33", "ES": "34"}

# Formal name -> nicknames, per locale. Bases are sometimes drawn from here so that nickname
# duplicates ("Robert" / "Bob") actually occur.
NICKNAMES: dict[str, dict[str, list[str]]] = {
    "en": {
        "William": ["Bill", "Will", "Billy"],
        "Robert": ["Bob", "Rob", "Bobby"],
        "Richard": ["Rick", "Dick"],
        "James": ["Jim", "Jimmy"],
        "John": ["Jack", "Johnny"],
        "Michael": ["Mike", "Mick"],
        "Thomas": ["Tom", "Tommy"],
        "Joseph": ["Joe", "Joey"],
        "Christopher": ["Chris"],
        "Daniel": ["Dan", "Danny"],
        "Matthew": ["Matt"],
        "Anthony": ["Tony"],
        "Andrew": ["Andy", "Drew"],
        "Edward": ["Ed", "Ted", "Eddie"],
        "Benjamin": ["Ben"],
        "Samuel": ["Sam"],
        "Alexander": ["Alex"],
        "Elizabeth": ["Liz", "Beth", "Betty"],
        "Margaret": ["Maggie", "Peggy"],
        "Jennifer": ["Jen", "Jenny"],
        "Katherine": ["Kate", "Katie", "Kathy"],
        "Patricia": ["Pat", "Patty"],
        "Susan": ["Sue"],
        "Rebecca": ["Becky"],
        "Victoria": ["Vicky"],
        "Jessica": ["Jess"],
        "Deborah": ["Debbie", "Deb"],
    },
    "de": {
        "Johannes": ["Hans", "Jo"],
        "Friedrich": ["Fritz"],
        "Wolfgang": ["Wolf"],
        "Alexander": ["Alex"],
        "Maximilian": ["Max"],
        "Katharina": ["Kathi", "Katja"],
        "Elisabeth": ["Lisa", "Sabine"],
        "Stefanie": ["Steffi"],
        "Christian": ["Chris"],
        "Matthias": ["Matze"],
    },
    "fr": {
        "Nicolas": ["Nico"],
        "Alexandre": ["Alex"],
        "Catherine": ["Cathy"],
        "Frédéric": ["Fred"],
        "Dominique": ["Dom"],
        "Jean-Baptiste": ["JB"],
        "Guillaume": ["Guillou"],
        "Isabelle": ["Isa"],
    },
    "es": {
        "Francisco": ["Paco", "Curro"],
        "José": ["Pepe"],
        "Manuel": ["Manolo"],
        "Dolores": ["Lola"],
        "Guadalupe": ["Lupe"],
        "Ignacio": ["Nacho"],
        "Concepción": ["Concha"],
        "Alejandro": ["Álex"],
    },
}
COMMON_NAMES = {
    "en": [("John", "Smith"), ("Mary", "Johnson"), ("James", "Brown"), ("David", "Jones"), ("Sarah", "Williams")],
    "de": [("Thomas", "Müller"), ("Anna", "Schmidt"), ("Michael", "Schneider")],
    "fr": [("Marie", "Martin"), ("Jean", "Bernard"), ("Pierre", "Dubois")],
    "es": [("María", "García"), ("José", "Fernández"), ("Antonio", "López")],
}
MOBILE_PREFIX = {"US": None, "GB": "7", "DE": "15", "FR": "6", "ES": "6"}
US_AREA_CODES = ("212", "312", "415", "617", "206", "303", "512", "404", "305", "702", "503", "615")
SOURCES = ("web", "store", "call_center", "mobile_app", "crm_import")


@dataclass
class Person:
    """One real-world customer; the ground truth behind one or more profiles."""

    customer_id: str
    locale: str
    first: str
    last: str
    gender: str
    birth: date
    email: str
    mobile: str  # national significant number, country from `country`
    address: dict[str, str]
    middle: str | None = None
    home_phone: str | None = None
    company: str | None = None
    business_phone: str | None = None
    business_email: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def country(self) -> str:
        return COUNTRY[self.locale]

    @property
    def lang(self) -> str:
        return self.locale[:2]


class Generator:
    """Draws people and their profiles. One instance per thread: Faker instances are stateful."""

    def __init__(self) -> None:
        self._fakers = {loc: Faker(loc) for loc in LOCALES}

    def faker(self, rng: random.Random, locale: str) -> Faker:
        fk = self._fakers[locale]
        fk.seed_instance(rng.getrandbits(48))
        return fk

    # -- people -------------------------------------------------------------------------------------------------
    def person(self, rng: random.Random, customer_id: str, locale: str | None = None) -> Person:
        locale = locale or rng.choices(LOCALES, LOCALE_WEIGHTS)[0]
        fk = self.faker(rng, locale)
        gender = rng.choice(("MALE", "FEMALE"))
        lang = locale[:2]
        if rng.random() < 0.3:
            first = rng.choice(list(NICKNAMES[lang]))
        else:
            first = fk.first_name_male() if gender == "MALE" else fk.first_name_female()
        last = fk.last_name()
        if rng.random() < 0.04:
            first, last = rng.choice(COMMON_NAMES[lang])
        country = COUNTRY[locale]
        p = Person(
            customer_id=customer_id,
            locale=locale,
            first=first,
            last=last,
            gender=gender,
            birth=fk.date_of_birth(minimum_age=18, maximum_age=88),
            email="",
            mobile=self.national_number(rng, country, mobile=True),
            address=self.address(rng, locale),
        )
        if rng.random() < 0.2:
            p.middle = fk.first_name_male() if gender == "MALE" else fk.first_name_female()
        p.email = self.email(rng, fk, p.first, p.last)
        if rng.random() < 0.35:
            p.home_phone = self.national_number(rng, country, mobile=False)
        if rng.random() < 0.25:
            p.company = fk.company()
            p.business_phone = self.national_number(rng, country, mobile=False)
            domain = _ascii(p.company).lower().split()[0].strip(",.-") or "company"
            p.business_email = f"{_ascii(p.first).lower()}.{_ascii(p.last).lower()}@{domain}.example.com".replace(
                " ", ""
            )
        p.extra = {"loyaltyTier": rng.choice(("none", "silver", "gold", "platinum"))}
        return p

    def address(self, rng: random.Random, locale: str) -> dict[str, str]:
        fk = self.faker(rng, locale)
        addr = {
            "Address1": fk.street_address(),
            "City": fk.city(),
            "PostalCode": fk.postcode(),
            "Country": COUNTRY[locale],
        }
        if locale == "en_US":
            addr["State"] = fk.state_abbr()
        elif locale == "es_ES":
            addr["Province"] = fk.state()
        elif locale == "fr_FR":
            addr["State"] = fk.region()
        return addr

    def national_number(self, rng: random.Random, country: str, mobile: bool) -> str:
        if country == "US":
            return rng.choice(US_AREA_CODES) + str(rng.randint(200, 999)) + f"{rng.randint(0, 9999):04d}"
        if mobile:
            prefix = MOBILE_PREFIX[country] or ""
        else:
            prefix = {"GB": "20", "DE": "30", "FR": "1", "ES": "91"}[country]
        length = {"GB": 10, "DE": 11, "FR": 9, "ES": 9}[country]
        return prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix)))

    def email(self, rng: random.Random, fk: Faker, first: str, last: str) -> str:
        fn, ln = _ascii(first).lower().replace(" ", ""), _ascii(last).lower().replace(" ", "")
        local = rng.choice((f"{fn}.{ln}", f"{fn}_{ln}", f"{fn[:1]}{ln}", f"{fn}{ln}{rng.randint(1, 99)}", f"{ln}.{fn}"))
        return f"{local}@{fk.free_email_domain()}"

    # -- profiles -----------------------------------------------------------------------------------------------
    def profile(self, rng: random.Random, person: Person) -> dict[str, Any]:
        """The canonical profile of a person, as one source system holds it."""
        prof: dict[str, Any] = {
            "FirstName": person.first,
            "LastName": person.last,
            "Gender": person.gender,
            "GenderString": person.gender.lower(),
            "PartyType": "INDIVIDUAL",
            "EmailAddress": person.email,
            "PhoneNumber": format_phone(rng, person.country, person.mobile),
            "Address": dict(person.address),
            "AccountNumber": f"{rng.choice('ABCDEFGH')}{rng.randint(1000000, 9999999)}",
            "Attributes": {**person.extra, "source": rng.choice(SOURCES)},
        }
        if rng.random() < 0.55:
            # Most source systems never asked for a birth date.
            prof["BirthDate"] = person.birth.isoformat()
        if person.middle:
            prof["MiddleName"] = person.middle
        if person.home_phone:
            prof["HomePhoneNumber"] = format_phone(rng, person.country, person.home_phone)
        if person.company:
            prof["BusinessName"] = person.company
            prof["BusinessPhoneNumber"] = format_phone(rng, person.country, person.business_phone or "")
            if person.business_email:
                prof["BusinessEmailAddress"] = person.business_email
        if rng.random() < 0.3:
            prof["MobilePhoneNumber"] = prof.pop("PhoneNumber")
        if rng.random() < 0.2:
            prof["ShippingAddress"] = dict(person.address)
        return prof

    def duplicate(self, rng: random.Random, person: Person, base: dict[str, Any]) -> dict[str, Any]:
        """Another profile of the same person, entered elsewhere: typos, formats, gaps, a move."""
        prof = copy.deepcopy(base)
        prof["AccountNumber"] = f"{rng.choice('ABCDEFGH')}{rng.randint(1000000, 9999999)}"
        prof["Attributes"] = {**person.extra, "source": rng.choice(SOURCES)}
        ops = rng.sample(
            ["typo", "nickname", "email_case", "second_email", "phone_format", "missing", "moved", "swap_phone"],
            k=rng.choice((1, 2, 2, 3)),
        )
        for op in ops:
            if op == "typo":
                key = rng.choice(("FirstName", "LastName"))
                prof[key] = typo(rng, prof[key])
            elif op == "nickname":
                nicks = NICKNAMES[person.lang].get(person.first)
                if nicks:
                    prof["FirstName"] = rng.choice(nicks)
                else:
                    prof["FirstName"] = person.first[:1] + "."
            elif op == "email_case" and "EmailAddress" in prof:
                prof["EmailAddress"] = rng.choice((str.upper, str.title))(prof["EmailAddress"])
            elif op == "second_email":
                other = self.email(rng, self.faker(rng, person.locale), person.first, person.last)
                if rng.random() < 0.5:
                    prof["PersonalEmailAddress"] = other
                else:
                    prof["EmailAddress"] = other
            elif op == "phone_format":
                for key in ("PhoneNumber", "MobilePhoneNumber"):
                    if key in prof:
                        prof[key] = format_phone(rng, person.country, person.mobile)
            elif op == "missing":
                for key in rng.sample(
                    ["EmailAddress", "PhoneNumber", "MobilePhoneNumber", "Address", "BirthDate", "MiddleName"], k=2
                ):
                    prof.pop(key, None)
            elif op == "moved":
                prof["Address"] = self.address(rng, person.locale)
                prof.pop("ShippingAddress", None)
                prof.pop("HomePhoneNumber", None)
            elif op == "swap_phone" and "PhoneNumber" in prof:
                prof["MobilePhoneNumber"] = prof.pop("PhoneNumber")
        if not any(prof.get(k) for k in ("EmailAddress", "PersonalEmailAddress", "PhoneNumber", "MobilePhoneNumber")):
            # A profile with no contact key would never be matched by anyone; sources rarely keep those.
            prof["MobilePhoneNumber"] = format_phone(rng, person.country, person.mobile)
        return prof

    def lookalike(self, rng: random.Random, person: Person, customer_id: str) -> Person:
        """A different person who resembles `person`: relative, namesake, colleague or junior/senior."""
        kind = rng.choices(("relative", "namesake", "colleague", "junior"), (0.45, 0.25, 0.15, 0.15))[0]
        other = self.person(rng, customer_id, person.locale)
        if kind in ("relative", "junior"):
            other.last = person.last
            other.address = dict(person.address)
            other.home_phone = person.home_phone or self.national_number(rng, person.country, mobile=False)
            person.home_phone = other.home_phone
            if rng.random() < 0.3:
                other.email = person.email  # one family mailbox, the classic confident false positive
            else:
                other.email = self.email(rng, self.faker(rng, person.locale), other.first, other.last)
            if kind == "junior":
                other.first = person.first
                other.gender = person.gender
                other.middle = person.middle
                other.birth = date(
                    min(person.birth.year + rng.randint(22, 35), 2006), person.birth.month, min(person.birth.day, 28)
                )
        elif kind == "namesake":
            other.first, other.last, other.gender = person.first, person.last, person.gender
            other.email = self.email(rng, self.faker(rng, person.locale), other.first, other.last)
            if rng.random() < 0.4:
                other.address = {**other.address, "City": person.address["City"]}
        else:  # colleague: same company switchboard number, the classic shared-phone false positive
            if not person.company:
                person.company = self.faker(rng, person.locale).company()
                person.business_phone = self.national_number(rng, person.country, mobile=False)
            other.company, other.business_phone = person.company, person.business_phone
            if rng.random() < 0.5:
                other.last = person.last
        return other


def format_phone(rng: random.Random, country: str, national: str) -> str:
    """The same number written the way different systems write it."""
    cc = CALLING_CODE[country]
    try:
        num = phonenumbers.parse(f"+{cc}{national}")
    except phonenumbers.NumberParseException:
        return national
    style = rng.random()
    if style < 0.3:
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    if style < 0.55:
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
    if style < 0.8:
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    if country == "US":
        dashed = f"{national[:3]}-{national[3:6]}-{national[6:]}"
        return rng.choice((dashed, f"+1-{dashed}", f"1{national}"))
    return rng.choice((f"00{cc}{national}", f"+{cc}-{national}"))


def typo(rng: random.Random, word: str) -> str:
    if len(word) < 3:
        return word + word[-1:]
    i = rng.randrange(1, len(word) - 1)
    kind = rng.random()
    if kind < 0.35:
        return word[:i] + word[i + 1 :]  # dropped letter: Jhn
    if kind < 0.65:
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]  # swapped letters
    if kind < 0.85:
        return word[:i] + word[i] + word[i:]  # doubled letter
    return word[:i] + rng.choice("aeiou") + word[i + 1 :]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").replace("'", "")


def profile_id(*parts: object) -> str:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=16).hexdigest()


@dataclass
class DataSet:
    profiles: dict[str, dict[str, Any]]
    truth: dict[str, str]  # profile id -> customer id, never served


def generate(seed: int, customers: int, generator: Generator | None = None) -> DataSet:
    """`customers` people; about 40% have 1-4 duplicates and about 17% are look-alikes of someone else."""
    gen = generator or Generator()
    rng = random.Random(seed)
    people: list[Person] = []
    while len(people) < customers:
        person = gen.person(rng, f"c{len(people):07d}")
        people.append(person)
        if len(people) < customers and rng.random() < 0.2:
            people.append(gen.lookalike(rng, person, f"c{len(people):07d}"))
    profiles: dict[str, dict[str, Any]] = {}
    truth: dict[str, str] = {}
    for person in people:
        base = gen.profile(rng, person)
        copies = [base]
        if rng.random() < 0.4:
            extra = rng.choices((1, 2, 3, 4), (0.55, 0.25, 0.12, 0.08))[0]
            copies += [gen.duplicate(rng, person, base) for _ in range(extra)]
        for n, prof in enumerate(copies):
            pid = profile_id(seed, person.customer_id, n)
            profiles[pid] = {"ProfileId": pid, **prof}
            truth[pid] = person.customer_id
    # Ingestion order is not customer order.
    order = list(profiles)
    rng.shuffle(order)
    return DataSet(profiles={pid: profiles[pid] for pid in order}, truth=truth)
