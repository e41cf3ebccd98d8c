#!/usr/bin/env python3
"""Writes services/routing/seed/demo-620802.csv: the demo directory of Kongtong
district (崆峒区, 620802) — its county centre, a people's mediation committee per
township or street, and one per village or community — from the National
Bureau of Statistics 2023 division codes in data/regions (WTFPL, see its
LICENSE). Run from the repository root: python3 scripts/gen-demo-directory.py
"""
import csv
import gzip
import os

COUNTY = "620802"
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
regions = os.path.join(root, "data", "regions")
out = os.path.join(root, "services", "routing", "seed", f"demo-{COUNTY}.csv")

def rows(name):
    with gzip.open(os.path.join(regions, f"{name}.csv.gz"), "rt", encoding="utf-8") as f:
        yield from csv.DictReader(f)

orgs = [(f"county-{COUNTY}-centre", "崆峒区矛盾纠纷多元化解中心", "COUNTY_CENTRE", 3, COUNTY)]
for s in rows("streets"):
    if s["areaCode"] == COUNTY:
        orgs.append((f"township-{s['code']}", f"{s['name']}人民调解委员会", "TOWNSHIP_COMMITTEE", 2, s["code"]))
for v in rows("villages"):
    if v["areaCode"] == COUNTY:
        name = v["name"].removesuffix("居委会").removesuffix("村委会")
        orgs.append((f"village-{v['code']}", f"{name}人民调解委员会", "VILLAGE_COMMITTEE", 1, v["code"]))

with open(out, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["org_id", "name", "kind", "level", "division_code"])
    w.writerows(orgs)
print(f"{out}: {len(orgs)} organisations")
