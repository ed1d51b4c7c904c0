-- about: a * inside a CTE whose columns the final select names: no positional read (adding a column to the input changes nothing)
-- dialect: postgres
-- input: pg://db app.public.users [id, email, created_at, deleted_at]
with active as (
    select * from users where deleted_at is null
)
select id, lower(email) as email from active
