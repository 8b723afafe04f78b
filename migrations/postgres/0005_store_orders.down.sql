DROP TABLE store_order_cursors;
DROP TABLE store_order_lines;
DROP TABLE store_orders;
