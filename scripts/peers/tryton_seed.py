#!/usr/bin/env python3
"""Seed a freshly created Tryton 8.2 database for Ferry's CRM<->ERP peer tests.

Usage: tryton_seed.py CONFIG_FILE DATABASE   (run by tryton-up.sh with the venv's python)

Runs in-process through proteus: no server is needed, and with SQLite it must
run before trytond starts. Each step checks first, so a second run on the same
database adds nothing. It uses Tryton's own scenario helpers
(trytond.modules.*.tests.tools), the way Tryton's tests set up a company.

Creates:
- company "Hub Test Co" (USD), which becomes the admin's company;
- a fiscal year around today, with periods and invoice sequences (without them
  invoices cannot be posted);
- a minimal chart of accounts; payment term "Direct"; invoice payment method
  "Cash" (cash journal) for the pay wizard;
- product category "Goods" with revenue/expense accounts (products need an
  account category before they can be invoiced);
- products WIDGET-1 (goods, 10.00, cost 5.00, 100 units in storage STO of
  warehouse WH via a confirmed inventory) and SVC-SETUP (service, 150.00);
- customer "Seed Customer" with identifier CRM-SEED-1, an email and an address;
- a sales tax "VAT 13%" (percentage 0.13, booked on the chart's tax account), for
  sale lines that carry VAT (`taxes: [["add", [TRYTON_VAT_ID]]]` in a flow's line
  values; tryton-up.sh puts its id in the env file).
"""
import datetime
import sys
from decimal import Decimal

from proteus import Model, Wizard, config as pconfig

conf_file, dbname = sys.argv[1], sys.argv[2]
cfg = pconfig.set_trytond(database=dbname, config_file=conf_file)

from trytond.modules.company.tests.tools import create_company, get_company  # noqa: E402
from trytond.modules.account.tests.tools import (  # noqa: E402
    create_fiscalyear, create_chart, create_tax, get_accounts)
from trytond.modules.account_invoice.tests.tools import (  # noqa: E402
    set_fiscalyear_invoice_sequences, create_payment_term)

Party = Model.get('party.party')
Company = Model.get('company.company')
if not Company.find([]):
    company_party = Party(name='Hub Test Co')
    company_party.save()
    create_company(party=company_party, currency='USD')
company = get_company()

FiscalYear = Model.get('account.fiscalyear')
if not FiscalYear.find([]):
    fy = set_fiscalyear_invoice_sequences(create_fiscalyear(company))
    fy.click('create_period')

Account = Model.get('account.account')
if not Account.find([]):
    create_chart(company)
accounts = get_accounts(company)

PaymentTerm = Model.get('account.invoice.payment_term')
if not PaymentTerm.find([]):
    create_payment_term().save()

Category = Model.get('product.category')
cats = Category.find([('name', '=', 'Goods')])
if cats:
    cat, = cats
else:
    cat = Category(name='Goods', accounting=True)
    cat.account_expense = accounts['expense']
    cat.account_revenue = accounts['revenue']
    cat.save()

Uom = Model.get('product.uom')
unit, = Uom.find([('name', '=', 'Unit')])
Template = Model.get('product.template')
Product = Model.get('product.product')


def ensure_product(code, name, ptype, price, cost):
    found = Product.find([('code', '=', code)])
    if found:
        return found[0]
    t = Template(name=name, type=ptype, default_uom=unit, salable=True,
        list_price=Decimal(price), account_category=cat, code=code)
    t.save()
    p, = t.products
    p.cost_price = Decimal(cost)
    p.save()
    return p


widget = ensure_product('WIDGET-1', 'Widget', 'goods', '10.00', '5.00')
ensure_product('SVC-SETUP', 'Setup service', 'service', '150.00', '0')

Location = Model.get('stock.location')
storage, = Location.find([('code', '=', 'STO')])
Inventory = Model.get('stock.inventory')
if not Inventory.find([]):
    inv = Inventory(location=storage)
    line = inv.lines.new(product=widget)
    line.quantity = 100.0
    line.expected_quantity = 0.0
    inv.click('confirm')

if not Party.find([('name', '=', 'Seed Customer')]):
    p = Party(name='Seed Customer')
    p.identifiers.new(type=None, code='CRM-SEED-1')
    p.contact_mechanisms.new(type='email', value='seed@example.com')
    addr = p.addresses[0] if p.addresses else p.addresses.new()
    addr.street = '1 Seed Street'
    addr.city = 'Springfield'
    p.save()
PaymentMethod = Model.get('account.invoice.payment.method')
if not PaymentMethod.find([]):
    Journal = Model.get('account.journal')
    cash_journal, = Journal.find([('type', '=', 'cash')], limit=1)
    PaymentMethod(name='Cash', journal=cash_journal,
        credit_account=accounts['cash'], debit_account=accounts['cash']).save()

Tax = Model.get('account.tax')
if not Tax.find([('name', '=', 'VAT 13%')]):
    vat = create_tax(Decimal('0.13'))
    vat.name = vat.description = 'VAT 13%'
    vat.save()

print('seeded company=%s fiscalyears=%d products=%d parties=%d taxes=%d' % (
    company.rec_name, len(FiscalYear.find([])), len(Product.find([])),
    len(Party.find([])), len(Tax.find([]))))
