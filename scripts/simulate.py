#!/usr/bin/env python3
"""Generate labelled card transactions for demos, backtests and training.

Normal behaviour: customers with one or two cards, a home country, a set of
favourite merchants, a personal amount scale and daily rhythm, occasional
trips abroad, small whole-dollar purchases (coffee, parking) and rare large
legitimate purchases. Fraud scenarios (is_fraud=1):

- card_testing: a stolen card gets a burst of tiny online charges within
  minutes, then a few large ones.
- account_takeover: a customer's card is used from another country, at new
  merchants, for amounts many times its usual size, over a day or two.
- compromised_merchant: a few merchants process stolen cards for weeks;
  their share of fraud grows while legitimate traffic continues.
- high_risk_geo: stolen cards used from high-risk countries (where some
  legitimate customers also live, so geography alone is not the answer).

Columns: transaction_id,timestamp,customer_id,card_number,merchant,amount,
location,is_fraud (ISO-8601 UTC, location empty for online merchants, a
customer_id empty for guest checkouts). Deterministic for a given --seed.

    python scripts/simulate.py --out data/sim.csv --customers 2000 --days 60 --seed 7
"""
from __future__ import annotations

import argparse
import csv
import math
import random
import sys
from datetime import datetime, timezone
from typing import IO, Optional

HOUR = 3_600_000
DAY = 24 * HOUR
COLUMNS = ["transaction_id", "timestamp", "customer_id", "card_number", "merchant", "amount", "location", "is_fraud"]
COUNTRIES = {  # name: (weight as home country, cities)
    "USA": (55, ["New York", "Chicago", "Austin", "Seattle", "Miami", "Denver"]),
    "UK": (10, ["London", "Manchester", "Leeds"]),
    "Germany": (6, ["Berlin", "Munich", "Hamburg"]),
    "France": (6, ["Paris", "Lyon"]),
    "Canada": (6, ["Toronto", "Vancouver"]),
    "India": (5, ["Mumbai", "Bangalore"]),
    "Brazil": (4, ["Sao Paulo", "Rio de Janeiro"]),
    "Japan": (3, ["Tokyo", "Osaka"]),
    "Nigeria": (3, ["Lagos", "Abuja"]),
    "Mexico": (2, ["Mexico City", "Guadalajara"]),
}
HIGH_RISK = {"Nigeria": ["Lagos"], "Iran": ["Tehran"], "Myanmar": ["Yangon"], "Afghanistan": ["Kabul"]}
FRAUD_ORIGINS = {"Russia": ["Moscow"], "Romania": ["Bucharest"], "Vietnam": ["Hanoi"], "Indonesia": ["Jakarta"]}
WORDS_A = ["Blue", "Golden", "Urban", "Green", "Silver", "Corner", "Happy", "Royal", "Sunny", "North", "Quick", "Prime"]
WORDS_B = ["Harbor", "Oak", "River", "Market", "Lane", "Peak", "Garden", "Bridge", "Stone", "Field", "Point", "Bay"]
KINDS = {  # kind: (share of merchants, median amount, online)
    "Grocery": (0.22, 45.0, False), "Cafe": (0.16, 7.0, False), "Fuel": (0.10, 50.0, False),
    "Restaurant": (0.14, 38.0, False), "Pharmacy": (0.07, 25.0, False), "Fashion": (0.10, 80.0, False),
    "Electronics": (0.06, 250.0, False), "Online Store": (0.10, 60.0, True), "Digital Goods": (0.05, 12.0, True),
}
BINS = ["411111", "424242", "455673", "510510", "542418", "601100", "371449"]


def luhn_complete(prefix: str) -> str:
    """Append the check digit that makes `prefix` + digit pass Luhn."""
    total = 0
    for index, char in enumerate(reversed(prefix)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return prefix + str((10 - total % 10) % 10)


class Simulator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.rng = random.Random(args.seed)
        self.start = int(datetime.fromisoformat(args.start).replace(tzinfo=timezone.utc).timestamp() * 1000)
        self.days = args.days
        self.scale = args.fraud_scale
        self.rows: list[tuple] = []
        self._cards: set[str] = set()
        self.merchants = self._make_merchants(args.merchants)
        self.customers = [self._make_customer(i) for i in range(args.customers)]

    def new_card(self) -> str:
        while True:
            bin_ = self.rng.choice(BINS)
            length = 15 if bin_.startswith("37") else 16
            pan = luhn_complete(bin_ + "".join(self.rng.choice("0123456789") for _ in range(length - 7)))
            if pan not in self._cards:
                self._cards.add(pan)
                return pan

    def _make_merchants(self, count: int) -> list[dict]:
        kinds = list(KINDS)
        weights = [KINDS[k][0] for k in kinds]
        names: set[str] = set()
        merchants = []
        while len(merchants) < count:
            kind = self.rng.choices(kinds, weights)[0]
            name = f"{self.rng.choice(WORDS_A)} {self.rng.choice(WORDS_B)} {kind}"
            if name in names:
                name = f"{name} {len(merchants)}"
            names.add(name)
            country = self.rng.choices(list(COUNTRIES), [w for w, _ in COUNTRIES.values()])[0]
            median, online = KINDS[kind][1], KINDS[kind][2]
            location = "" if online else f"{self.rng.choice(COUNTRIES[country][1])}, {country}"
            merchants.append({"name": name, "kind": kind, "country": country, "median": median,
                              "online": online, "location": location})
        self.by_country: dict[str, list[dict]] = {}
        for m in merchants:
            if not m["online"]:
                self.by_country.setdefault(m["country"], []).append(m)
        self.online = [m for m in merchants if m["online"]]
        self.electronics = [m for m in merchants if m["kind"] in ("Electronics", "Online Store")] or merchants
        return merchants

    def _make_customer(self, index: int) -> dict:
        rng = self.rng
        country = rng.choices(list(COUNTRIES), [w for w, _ in COUNTRIES.values()])[0]
        local = self.by_country.get(country) or self.merchants
        favourites = rng.sample(local, min(len(local), rng.randint(4, 12))) + rng.sample(self.online, 2)
        return {"id": f"CUST{index:06d}", "country": country, "cards": [self.new_card() for _ in range(rng.choice((1, 1, 2)))],
                "rate": rng.lognormvariate(0.0, 0.6), "scale": rng.lognormvariate(0.0, 0.5),
                "favourites": favourites, "guest": rng.random() < 0.1}

    def emit(self, ts: int, customer: str, card: str, merchant: dict, cents: int, location: str, fraud: int) -> None:
        self.rows.append((ts, customer, card, merchant["name"], max(1, cents), location, fraud))

    def amount(self, median: float, scale: float) -> int:
        if self.rng.random() < 0.08:  # small whole-dollar purchases are normal too
            return self.rng.randint(1, 49) * 100
        return int(median * scale * self.rng.lognormvariate(0.0, 0.7) * 100)

    def normal(self) -> None:
        rng = self.rng
        for c in self.customers:
            trip: Optional[tuple[int, int, str]] = None
            for day in range(self.days):
                if trip is None and rng.random() < 0.01:
                    abroad = rng.choice([k for k in COUNTRIES if k != c["country"]])
                    trip = (day, day + rng.randint(2, 7), abroad)
                away = trip[2] if trip and trip[0] <= day < trip[1] else None
                if trip and day >= trip[1]:
                    trip = None
                for _ in range(self._poisson(c["rate"])):
                    ts = self.start + day * DAY + int(rng.triangular(7, 23, 15) * HOUR) + rng.randrange(HOUR)
                    if away and rng.random() < 0.8:
                        merchant = rng.choice(self.by_country.get(away) or self.merchants)
                    elif rng.random() < 0.9:
                        merchant = rng.choice(c["favourites"])
                    else:
                        merchant = rng.choice(self.merchants)
                    cents = self.amount(merchant["median"], c["scale"])
                    if rng.random() < 0.0005:
                        cents = rng.randint(10_001, 30_000) * 100  # a car, a ring: rare, legitimate
                    self.emit(ts, "" if c["guest"] else c["id"], rng.choice(c["cards"]), merchant, cents,
                              merchant["location"], 0)

    def _poisson(self, lam: float) -> int:
        threshold, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= threshold:
                return k
            k += 1

    def _when(self) -> int:
        return self.start + self.rng.randrange(self.days * DAY)

    def card_testing(self, count: int) -> None:
        rng = self.rng
        for _ in range(count):
            card, ts = self.new_card(), self._when()
            targets = rng.sample(self.online, min(3, len(self.online)))
            for _ in range(rng.randint(3, 12)):
                ts += rng.randint(5_000, 90_000)
                cents = rng.choice([100, 200, 300, 500, rng.randint(50, 499)])
                self.emit(ts, "", card, rng.choice(targets), cents, "", 1)
            for _ in range(rng.randint(1, 3)):
                ts += rng.randint(10 * 60_000, 6 * HOUR)
                m = rng.choice(self.electronics)
                self.emit(ts, "", card, m, rng.randint(300, 2500) * 100, m["location"], 1)

    def account_takeover(self, count: int) -> None:
        rng = self.rng
        for _ in range(count):
            c = rng.choice(self.customers)
            card, ts = rng.choice(c["cards"]), self._when()
            origin = rng.choice(list(FRAUD_ORIGINS) + [k for k in COUNTRIES if k != c["country"]])
            cities = FRAUD_ORIGINS.get(origin) or COUNTRIES[origin][1]
            for _ in range(rng.randint(2, 6)):
                ts += rng.randint(5 * 60_000, 12 * HOUR)
                m = rng.choice(self.electronics)
                cents = int(rng.uniform(5, 20) * 60 * c["scale"] * 100)
                if rng.random() < 0.1:
                    cents = rng.randint(10_001, 20_000) * 100
                self.emit(ts, "" if c["guest"] else c["id"], card, m, cents, f"{rng.choice(cities)}, {origin}", 1)

    def compromised_merchants(self, merchants: int, per_day: float) -> None:
        rng = self.rng
        for m in rng.sample(self.merchants, merchants):
            first = rng.randrange(max(1, self.days // 3))
            for day in range(first, min(self.days, first + rng.randint(14, 40))):
                for _ in range(self._poisson(per_day)):
                    ts = self.start + day * DAY + rng.randrange(DAY)
                    self.emit(ts, "", self.new_card(), m, self.amount(m["median"] * 3, 1.0), m["location"], 1)

    def high_risk_geo(self, count: int) -> None:
        rng = self.rng
        for _ in range(count):
            country = rng.choice(list(HIGH_RISK))
            card, ts = self.new_card(), self._when()
            for _ in range(rng.randint(1, 4)):
                ts += rng.randint(60_000, 3 * HOUR)
                m = rng.choice(self.electronics + self.online)
                self.emit(ts, "", card, m, rng.randint(80, 1500) * 100, f"{rng.choice(HIGH_RISK[country])}, {country}", 1)

    def run(self) -> list[tuple]:
        per_day = len(self.customers) / 1000 * self.scale
        self.normal()
        self.card_testing(int(per_day * self.days * 0.6))
        self.account_takeover(int(per_day * self.days * 0.5))
        if self.scale > 0:
            self.compromised_merchants(max(1, len(self.merchants) // 100), 1.5 * max(self.scale, per_day / 2))
        self.high_risk_geo(int(per_day * self.days * 0.4))
        self.rows.sort(key=lambda r: r[0])
        return self.rows


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def write(rows: list[tuple], out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for seq, (ts, customer, card, merchant, cents, location, fraud) in enumerate(rows):
        writer.writerow([f"T{seq:09d}", iso(ts), customer, card, merchant, f"{cents // 100}.{cents % 100:02d}",
                         location, fraud])


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="CSV file to write ('-' for stdout)")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--merchants", type=int, default=300)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--start", default="2024-01-01", help="first day (UTC), YYYY-MM-DD")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fraud-scale", type=float, default=1.0, help="multiplies every fraud scenario")
    args = parser.parse_args(argv)
    if args.customers < 1 or args.merchants < 10 or args.days < 1 or args.fraud_scale < 0:
        parser.error("need customers >= 1, merchants >= 10, days >= 1, fraud-scale >= 0")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    rows = Simulator(args).run()
    if args.out == "-":
        write(rows, sys.stdout)
    else:
        with open(args.out, "w", newline="", encoding="utf-8") as out:
            write(rows, out)
    frauds = sum(r[6] for r in rows)
    print(f"wrote {len(rows)} transactions ({frauds} fraud, {frauds / max(1, len(rows)):.2%}) to {args.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
