DROP TABLE store_catalog_records;
DROP TABLE store_catalogs;
