-- about: quoted and differently cased identifiers match names case-insensitively, and the output keeps the SQL's alias spelling
-- dialect: postgres
-- input: pg://db App.Public.Accounts [AccountId, DisplayName, Created At]
select "AccountId" as "Account ID", a."DisplayName", "Created At" as created
from "App"."Public"."Accounts" a
