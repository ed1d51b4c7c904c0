-- about: hashing and masking functions mark their inputs masking (dbt_utils' surrogate key is an md5 of concatenated casts); an input that also reaches the same column unmasked is not masked
-- dialect: snowflake
-- input: snowflake://acct RAW.CRM.USERS [USER_ID, EMAIL, PHONE, SSN]
select
    md5(cast(coalesce(cast(user_id as varchar), '') || '-' || coalesce(cast(email as varchar), '') as varchar)) as user_key,
    sha2(email, 256) as email_hash,
    mask_phone(phone) as phone_masked,
    sha1(phone) || right(phone, 4) as phone_hint,
    email,
    count(ssn) as n_ssn
from raw.crm.users
group by user_id, email, phone
