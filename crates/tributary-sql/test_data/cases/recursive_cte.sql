-- about: a recursive CTE: the non-recursive part gives the columns, the recursive part's join is a JOIN use; no crash on the self-reference
-- dialect: postgres
-- input: pg://db hr.public.employees [employee_id, manager_id, name]
with recursive chain (employee_id, name, depth) as (
    select employee_id, name, 0 from employees where manager_id is null
    union all
    select e.employee_id, e.name, c.depth + 1
    from employees e
    join chain c on e.manager_id = c.employee_id
)
select employee_id, name, depth from chain
