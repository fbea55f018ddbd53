-- Without a taxonomy archive there is no English common name.
CREATE TABLE common_names (taxon_id BIGINT, common_name VARCHAR)
