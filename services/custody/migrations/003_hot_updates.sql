-- Every appended entry updates its passport's head: leave room in each page so those updates stay HOT
-- (no index entries rewritten; the updated columns are not indexed).
ALTER TABLE known_passports SET (fillfactor = 70);
