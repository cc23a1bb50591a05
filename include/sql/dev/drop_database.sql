-- Drop a scratch database, disconnecting its sessions ({database} is composed as an identifier).
DROP DATABASE IF EXISTS {database} WITH (FORCE)
