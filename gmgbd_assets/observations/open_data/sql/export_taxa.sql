-- The staged taxa ($taxa_file) of the ids asked ($ids), those the taxa file listed.
SELECT taxon_id, name, rank, ancestor_ids FROM read_parquet($taxa_file)
WHERE listed AND taxon_id IN (SELECT unnest($ids::BIGINT[]))
