-- Demo data: deterministic, so tests and examples can rely on the numbers.
INSERT INTO customers (email, name, country, created_at)
SELECT 'customer' || g || '@example.com', 'Customer ' || g,
       (ARRAY['US','DE','FR','JP','BR'])[1 + g % 5],
       timestamptz '2024-01-01 00:00:00+00' + (g || ' hours')::interval
FROM generate_series(1, 200) g;

INSERT INTO products (sku, name, price, tags, attributes)
SELECT 'SKU-' || lpad(g::text, 4, '0'), 'Product ' || g, (g * 3.5)::numeric(10,2),
       ARRAY['tag' || (g % 4), 'tag' || (g % 7)],
       jsonb_build_object('color', (ARRAY['red','green','blue'])[1 + g % 3], 'weight_g', g * 10)
FROM generate_series(1, 50) g;

INSERT INTO orders (customer_id, status, placed_at, note)
SELECT 1 + (g * 7) % 200,
       (ARRAY['pending','paid','shipped','cancelled']::order_status[])[1 + g % 4],
       timestamptz '2024-02-01 00:00:00+00' + (g || ' minutes')::interval,
       CASE WHEN g % 10 = 0 THEN 'gift' END
FROM generate_series(1, 1000) g;

INSERT INTO order_items (order_id, product_id, quantity, unit_price)
SELECT o.id, 1 + (o.id * k) % 50, 1 + (o.id + k) % 3, p.price
FROM orders o CROSS JOIN generate_series(1, 3) k
JOIN products p ON p.id = 1 + (o.id * k) % 50
ON CONFLICT DO NOTHING;

INSERT INTO invoices (order_id, pdf, issued_on)
SELECT id, decode('255044462d', 'hex'), date '2024-03-01' + (id % 30)::int
FROM orders WHERE status = 'shipped';

ANALYZE;
