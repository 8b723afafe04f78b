DROP TABLE web_connector_files;
