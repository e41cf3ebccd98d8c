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

# org_id, name, kind, level, division_code, capacity, categories, agency_id
orgs = [(f"county-{COUNTY}-centre", "崆峒区矛盾纠纷多元化解中心", "COUNTY_CENTRE", 3, COUNTY, 500, "", "")]
for s in rows("streets"):
    if s["areaCode"] == COUNTY:
        orgs.append((f"township-{s['code']}", f"{s['name']}人民调解委员会", "TOWNSHIP_COMMITTEE", 2, s["code"], 100, "", ""))
for v in rows("villages"):
    if v["areaCode"] == COUNTY:
        name = v["name"].removesuffix("居委会").removesuffix("村委会")
        orgs.append((f"village-{v['code']}", f"{name}人民调解委员会", "VILLAGE_COMMITTEE", 1, v["code"], 30, "", ""))

# The county's specialised organisations. Categories are separated by '|'.
orgs += [
    ("industry-620802-traffic", "崆峒区道路交通事故纠纷人民调解委员会", "INDUSTRY_COMMITTEE", 3, COUNTY, 200, "TRAFFIC_ACCIDENT", ""),
    ("industry-620802-medical", "崆峒区医疗纠纷人民调解委员会", "INDUSTRY_COMMITTEE", 3, COUNTY, 100, "MEDICAL", ""),
    ("industry-620802-labour", "崆峒区劳动争议人民调解委员会", "INDUSTRY_COMMITTEE", 3, COUNTY, 100, "LABOUR", ""),
    ("industry-620802-property", "崆峒区物业纠纷人民调解委员会", "INDUSTRY_COMMITTEE", 3, COUNTY, 100, "PROPERTY_HOUSING", ""),
    ("court-620802-office", "崆峒区人民法院诉调对接中心", "COURT_MEDIATION_OFFICE", 3, COUNTY, 300, "", "court-620802"),
    ("petition-620802-committee", "崆峒区信访事项人民调解委员会", "PETITION_COMMITTEE", 3, COUNTY, 200, "", "petition-620802"),
    ("police-620802-xijiao-office", "西郊派出所警调对接室", "POLICE_MEDIATION_OFFICE", 2, "620802003", 60, "", "police-620802-xijiao"),
]

with open(out, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["org_id", "name", "kind", "level", "division_code", "capacity", "categories", "agency_id"])
    w.writerows(orgs)
print(f"{out}: {len(orgs)} organisations")
