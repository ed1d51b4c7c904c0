-- about: SQL Server: bracketed names, TOP, a CTE, and a join on a schema-qualified table
-- dialect: mssql
-- input: mssql://srv:1433 Sales.dbo.Orders [OrderID, CustomerID, Total]
-- input: mssql://srv:1433 Sales.dbo.Customers [CustomerID, Name]
with top_orders as (
    select top 100 [OrderID], [CustomerID], [Total] from [dbo].[Orders] order by [Total] desc
)
select c.[Name], t.[Total]
from top_orders t
join [dbo].[Customers] c on c.[CustomerID] = t.[CustomerID]
