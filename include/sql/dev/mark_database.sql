-- Mark a database fraudcal created as scratch. {database} is composed as an identifier and
-- {mark} as a literal (DDL takes no bound parameters).
COMMENT ON DATABASE {database} IS {mark}
