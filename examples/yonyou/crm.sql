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

-- Sales orders with their lines: 含税 prices (VAT included), 13 % VAT, the order's own
-- 价税合计. Materials by their YonBIP code; M0006 (不锈钢平垫圈) is new, and YonBIP does
-- not have it until the ERP team creates it.
CREATE TABLE sales_orders (
  id INTEGER PRIMARY KEY,
  order_no TEXT NOT NULL UNIQUE,
  customer_no TEXT NOT NULL REFERENCES customers (customer_no),
  order_date TEXT NOT NULL,
  ship_to TEXT,
  total_amount NUMERIC(18, 2) NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE sales_order_lines (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES sales_orders (id),
  line_no INTEGER NOT NULL,
  material_code TEXT NOT NULL,
  product_name TEXT,
  quantity NUMERIC(18, 4) NOT NULL,
  price NUMERIC(18, 6) NOT NULL,
  tax_rate INTEGER NOT NULL DEFAULT 13  -- 税率 (%)
);
INSERT INTO sales_orders (id, order_no, customer_no, order_date, ship_to, total_amount, updated_at) VALUES
  (1, 'XS20260106001', 'CRM-0001', '2026-01-06', '江苏省苏州市姑苏区人民路88号', 2034.00, '2026-01-06 10:00:00'),
  (2, 'XS20260107002', 'CRM-0002', '2026-01-07', '浙江省宁波市北仑区明州路1号', 1150.00, '2026-01-07 14:30:00'),
  (3, 'XS20260108003', 'CRM-0003', '2026-01-08', '福建省厦门市思明区环岛路6号', 725.00, '2026-01-08 09:15:00');
INSERT INTO sales_order_lines (order_id, line_no, material_code, product_name, quantity, price) VALUES
  (1, 1, 'M0001', '不锈钢螺栓 M8', 1200, 1.05),
  (1, 2, 'M0005', '深沟球轴承 6204-2RS', 36, 21.50),
  (2, 1, 'M0002', '工业胶带 48mm×50m', 25, 32.80),
  (2, 2, 'M0001', '不锈钢螺栓 M8', 300, 1.10),
  (3, 1, 'M0001', '不锈钢螺栓 M8', 500, 1.10),
  (3, 2, 'M0006', '不锈钢平垫圈 M8', 500, 0.35);
