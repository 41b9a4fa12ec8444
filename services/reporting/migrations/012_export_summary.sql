-- What an export's writer counted while it wrote the file (a Battery Pass or Catena-X file: how many passports
-- conform to the published schemas), returned with the job's status. NULL for formats that count nothing.
ALTER TABLE export_jobs ADD COLUMN summary jsonb;
