DROP TABLE order_watch_lease;
DROP TABLE store_order_changes;
