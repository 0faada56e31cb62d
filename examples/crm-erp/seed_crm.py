#!/usr/bin/env python3
"""Puts sample sales into the BottleCRM peer: accounts, and a won deal per account whose lines
use the CRM's products (run the `products` flow first, so the ERP's products are there). Lines
carry the CRM's discounts in turn: none, 12.5 % off, 3.15 off the line.

    python3 seed_crm.py [--accounts N] [--lines K] [--prefix P]

Reads CRM_API and CRM_PAT from the environment (the env file `scripts/peers/crm-up.sh`
writes). Prints one JSON object: {"accounts": {name: id}, "deals": {name: id}}. Only the
standard library: it runs with any Python 3.
"""

import argparse
import json
import os
import sys
import urllib.request
import zlib

API = os.environ.get("CRM_API", "http://127.0.0.1:8100/api/")
PAT = os.environ["CRM_PAT"]


def call(method, path, body=None):
    req = urllib.request.Request(
        API + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + PAT, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as reply:
            return json.load(reply)
    except urllib.error.HTTPError as e:
        sys.exit(f"{method} {path}: HTTP {e.code}: {e.read().decode()[:500]}")


# A line's discount in BottleCRM: a percentage of the line, or a fixed amount off it.
DISCOUNTS = [
    {},
    {"discount_type": "PERCENTAGE", "discount_value": "12.5"},
    {"discount_type": "FIXED", "discount_value": "3.15"},
]

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(n):
    """A well-formed Chinese unified social credit code (GB 32100-2015 check digit)."""
    body = f"91310000{60 + n % 30:02d}{n:07d}"
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, USCC_WEIGHTS))
    return body + USCC_ALPHABET[(31 - total) % 31]


def ensure_tax_id_field():
    """Accounts carry their tax id in a custom field `tax_id` (BottleCRM has no such field;
    custom fields without a definition are dropped, so define it once)."""
    defined = call("GET", "custom-fields/")["definitions"]
    if not any(d["target_model"] == "Account" and d["key"] == "tax_id" for d in defined):
        call("POST", "custom-fields/", {"target_model": "Account", "key": "tax_id",
                                        "label": "Tax id (USCC)", "field_type": "text",
                                        "is_filterable": True})


def main():
    args = argparse.ArgumentParser()
    args.add_argument("--accounts", type=int, default=3)
    args.add_argument("--lines", type=int, default=2, help="lines per deal")
    args.add_argument("--prefix", default="Demo")
    opts = args.parse_args()

    products = call("GET", "invoices/products/?limit=100")["results"]
    if not products:
        sys.exit("the CRM has no products yet: run `ferry sync products` first")
    pipeline = call("GET", "opportunities/pipelines/")
    pipelines = pipeline if isinstance(pipeline, list) else pipeline.get("pipelines", pipeline.get("results", []))
    pipeline_id = pipelines[0]["id"]

    ensure_tax_id_field()
    out = {"accounts": {}, "deals": {}}
    # Every account is a Shanghai company, coherently: Nanjing East Road, a 021 phone number,
    # a 2000xx postcode and a credit code registered in Shanghai (310000).
    for n in range(1, opts.accounts + 1):
        name = f"{opts.prefix} 客户 {n}"
        account = call("POST", "accounts/", {
            "name": name, "email": f"buyer{n}@{opts.prefix.lower()}.example",
            "phone": f"+86 21 5555 {n:04d}", "address_line": f"{n} 南京东路",
            "city": "上海", "postcode": f"2000{n:02d}", "currency": "USD",
            "custom_fields": {"tax_id": uscc(zlib.crc32(name.encode()) % 10_000_000)},
        })
        account_id = account["id"]
        out["accounts"][name] = account_id
        contact = call("POST", "contacts/", {
            "first_name": "Li", "last_name": f"Wei {n}", "email": f"li.wei{n}@{opts.prefix.lower()}.example",
            "account": account_id,
        })
        deal_name = f"{opts.prefix} order {n}"
        deal = call("POST", "opportunities/", {
            "name": deal_name, "account": account_id, "pipeline": pipeline_id, "stage": "PROPOSAL",
            "currency": "USD", "probability": 50, "closed_on": "2026-11-22",
            "contacts": [contact["id"]], "assigned_to": [], "teams": [], "custom_fields": {},
        })
        deal_id = deal["id"]
        for k in range(opts.lines):
            product = products[k % len(products)]
            call("POST", f"opportunities/{deal_id}/line-items/", {
                "product_id": product["id"], "quantity": str(k % 3 + 1), "unit_price": product["price"],
                **DISCOUNTS[k % len(DISCOUNTS)],
            })
        call("PATCH", f"opportunities/{deal_id}/", {"stage": "CLOSED_WON"})
        out["deals"][deal_name] = deal_id
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
