-- Helpers for every staging statement, defined once on the staging's own connection.

-- An id as the export writes it. TRY_CAST rounds '33.5' to 34: an id with a fraction is not an id.
CREATE TEMP MACRO as_id(text) AS (CASE WHEN contains(text, '.') THEN NULL ELSE TRY_CAST(text AS BIGINT) END);

-- The raw text as written, quoted and cut to 40 characters: enough to find the line, never a whole field.
CREATE TEMP MACRO quoted_start(text) AS (chr(39) || left(text, 40) || chr(39));

-- A spelling's code: its place (1..n) in the list, 255 for any other. The codes are stored in the staged photos,
-- so the lists (staged.EXTENSIONS, staged.LICENSES) must keep their order.
CREATE TEMP MACRO spelling_code(value, spellings) AS coalesce(list_position(spellings, value), 255);

-- A photo's rank is position * photo_id_limit() + photo_id in one BIGINT; ids at or past the limit (2^41, 2.2
-- trillion, thousands of times today's) and positions past position_limit() (2^22, 4 million) would not fit and
-- count as unusable / last.
CREATE TEMP MACRO photo_id_limit() AS 2199023255552;
CREATE TEMP MACRO position_limit() AS 4194304;

-- iNaturalist's iconic taxa: an observation's iconic group is its lowest iconic ancestor.
CREATE TEMP MACRO iconic_taxon_ids() AS [3, 20978, 26036, 40151, 47178, 47115, 47119, 47158, 47126, 47170, 48222,
                                         47686, 1];
CREATE TEMP MACRO iconic_taxon_name(id) AS (CASE id
    WHEN 3 THEN 'Aves' WHEN 20978 THEN 'Amphibia' WHEN 26036 THEN 'Reptilia' WHEN 40151 THEN 'Mammalia'
    WHEN 47178 THEN 'Actinopterygii' WHEN 47115 THEN 'Mollusca' WHEN 47119 THEN 'Arachnida'
    WHEN 47158 THEN 'Insecta' WHEN 47126 THEN 'Plantae' WHEN 47170 THEN 'Fungi' WHEN 48222 THEN 'Chromista'
    WHEN 47686 THEN 'Protozoa' WHEN 1 THEN 'Animalia' END);
