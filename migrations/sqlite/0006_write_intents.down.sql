DROP TABLE sync_write_intents;
