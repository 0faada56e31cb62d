#!/usr/bin/env python3
"""Seed a migrated BottleCRM (PyPI django-crm 1.35.0) database for Ferry's peer tests.

Run by crm-up.sh with the CRM venv's python and the server's environment
(DJANGO_SETTINGS_MODULE=crm.settings, DBNAME, DBUSER, DBHOST, DBPORT,
SECRET_KEY, ...: see DIR/crm/env.sh). Each step checks first (idempotent).

Creates:
- superuser ADMIN_EMAIL / ADMIN_PASSWORD (humans log in by Google OAuth or
  magic link only: there is no password login endpoint, so the API is used
  with the tokens below);
- org "Hub Test Org" with a fixed org API key (header `Token: <key>`);
- an ADMIN profile of that user in that org;
- a personal access token with a fixed raw value (header
  `Authorization: Bearer <PAT>`); only its sha256 is stored;
- a filterable text custom field `erp_id` on Account, Contact, Opportunity,
  Lead and Invoice: custom_fields keys with no definition are silently
  dropped, and `?cf_erp_id=<value>` finds a record by its ERP key.
Prints KEY=VALUE lines.
"""
import os

import django

django.setup()

from common.models import (  # noqa: E402
    CustomFieldDefinition, Org, PersonalAccessToken, Profile, User)

email = os.environ.get('ADMIN_EMAIL', 'admin@example.com')
password = os.environ.get('ADMIN_PASSWORD', 'admin-pass-123')
org_key = os.environ.get('CRM_ORG_API_KEY', '11111111-2222-4333-8444-555555555555')
pat_raw = os.environ.get('CRM_PAT', 'bcrm_pat_hubtest_0123456789abcdefghijklmnopqrstuv')

user = User.objects.filter(email=email).first()
if user is None:
    user = User.objects.create_superuser(email=email, password=password)
org = Org.objects.filter(name='Hub Test Org').first()
if org is None:
    org = Org.objects.create(name='Hub Test Org', api_key=org_key,
        default_currency='USD')
profile = Profile.objects.filter(user=user, org=org).first()
if profile is None:
    profile = Profile.objects.create(user=user, org=org, role='ADMIN',
        has_sales_access=True, has_marketing_access=True, is_active=True)
h = PersonalAccessToken.hash_token(pat_raw)
if not PersonalAccessToken.objects.filter(token_hash=h).exists():
    PersonalAccessToken.objects.create(org=org, profile=profile, name='hub-tests',
        token_hash=h, token_prefix=pat_raw[:13], scopes=[], created_by=user)
# A filterable text custom field `erp_id` on the records the hub links to the
# ERP: `?cf_erp_id=<value>` then finds a record by its ERP key.
for target in ('Account', 'Contact', 'Opportunity', 'Lead', 'Invoice'):
    CustomFieldDefinition.objects.get_or_create(
        org=org, target_model=target, key='erp_id',
        defaults=dict(label='ERP id', field_type='text', is_filterable=True,
            created_by=user))
print('CRM_ORG_ID=%s' % org.id)
print('CRM_ORG_API_KEY=%s' % org.api_key)
print('CRM_PAT=%s' % pat_raw)
print('CRM_ADMIN_EMAIL=%s' % email)
print('CRM_ADMIN_PASSWORD=%s' % password)
