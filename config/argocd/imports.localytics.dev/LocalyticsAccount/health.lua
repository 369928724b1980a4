-- Code generated from config/argocd/health.lua.in; DO NOT EDIT.
-- The waiting reasons are the checks table of config/argocd/health_test.go.
-- Regenerate with: go test ./config/argocd -run TestConfigMapPatch -update
--
-- Argo CD health check for imports.localytics.dev/LocalyticsAccount, the value of the
-- argocd-cm key resource.customizations.health.imports.localytics.dev_LocalyticsAccount.
--
-- It reads the kstatus conditions the operator writes (Ready, Reconciling,
-- Stalled) and status.observedGeneration.
--
-- Argo CD runs it with the base, table and package libraries only: no string
-- library here.

-- Reasons of a Reconciling condition that are a wait for a budget, not work:
-- none for an account (a rate-limited credentials check is progressing).
local waiting = {}

local hs = { status = "Progressing" }

local status = obj.status
if status == nil or type(status.conditions) ~= "table" then
  hs.message = "Waiting for the operator to report a status"
  return hs
end

local generation = obj.metadata.generation

-- find returns the condition of that type, or nil.
local function find(name)
  for _, c in ipairs(status.conditions) do
    if c.type == name then
      return c
    end
  end
  return nil
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

local function text(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return c.reason
end

-- The operator advances observedGeneration when a reconcile of the current
-- generation reached its result (Ready or Stalled); until then the object is
-- progressing, whatever conditions an older generation left.
local observed = generation ~= nil and status.observedGeneration == generation

local stalled = find("Stalled")
if observed and isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = text(stalled)
  return hs
end

local ready = find("Ready")
if observed and isTrue(ready) then
  hs.status = "Healthy"
  hs.message = text(ready)
  return hs
end

-- Reconciling carries the generation it was written for: a wait of the
-- current generation counts before observedGeneration moves (a first
-- generation that waits has no observedGeneration yet).
local reconciling = find("Reconciling")
if isTrue(reconciling) and generation ~= nil and reconciling.observedGeneration == generation then
  if waiting[reconciling.reason] then
    hs.status = "Suspended"
  end
  hs.message = text(reconciling)
  return hs
end

if not observed then
  if generation ~= nil then
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  else
    hs.message = "Waiting for the operator to observe the object"
  end
  return hs
end

if ready ~= nil then
  hs.message = text(ready)
else
  hs.message = "Waiting for the operator to report Ready"
end
return hs
