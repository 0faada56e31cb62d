-- The CRM's tables for this example (SQLite): `sqlite3 crm.db < crm.sql`.
CREATE TABLE customers (
  id INTEGER PRIMARY KEY,
  customer_no TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE products (
  sku TEXT PRIMARY KEY,
  name TEXT
);
INSERT INTO customers (customer_no, name, updated_at) VALUES
  ('CRM-0001', '苏州园林科技有限公司', '2026-01-05 09:00:00'),
  ('CRM-0002', '宁波港口物流有限公司', '2026-01-05 09:00:00'),
  ('CRM-0003', '厦门海风贸易有限公司', '2026-01-05 09:00:01');
