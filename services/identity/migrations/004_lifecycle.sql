-- What identity knows of a passport's life beyond its data (Art. 77(7), (8)): who holds the battery (folded from
-- custody's `custody-recorded` facts), whether it ceased (recovery's `passport-ceased`), and its second-life
-- status, responsible operator and successors. Identity's own copy: it never reads other services' tables.
CREATE TABLE passport_lifecycle (
    passport_id          text PRIMARY KEY,
    tenant               text NOT NULL,
    custody_sequence     integer NOT NULL DEFAULT 0,
    holder               text,
    in_transit           boolean NOT NULL DEFAULT false,
    pending_to           text,
    custody_parties      text[] NOT NULL DEFAULT '{}',
    in_treatment         boolean NOT NULL DEFAULT false,
    ceased_at            timestamptz,
    status               text,
    responsible_operator text,
    successor_ids        text[] NOT NULL DEFAULT '{}',
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Every second-life operation: the new passport, what was done, from which predecessors, by whom.
CREATE TABLE second_life_operations (
    successor_id       text PRIMARY KEY,
    tenant             text NOT NULL,
    battery_identifier text NOT NULL,
    operation          text NOT NULL
        CHECK (operation IN ('repurposing', 'remanufacturing', 'preparing_for_re_use')),
    predecessor_ids    text[] NOT NULL,
    occurred_at        timestamptz NOT NULL,
    recorded_by        text NOT NULL,
    reason             text,
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT second_life_operations_tenant_identifier UNIQUE (tenant, battery_identifier)
);
CREATE INDEX second_life_operations_predecessors ON second_life_operations USING gin (predecessor_ids);
