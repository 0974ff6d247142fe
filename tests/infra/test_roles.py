"""Role assignments: all made by the one role module, each on a single resource under a stable
name, and only the roles the job needs."""

from __future__ import annotations

from bicep import BicepFile, named_children, object_entries, plain_string, text_of
from bicep_eval import Deployment, Unknown
from deployment import REPO_ROOT, ROLE_MODULE, account_id, main_scope
from grants import role_deployments, role_modules

INFRA = REPO_ROOT / "infra"
ROLES = INFRA / ROLE_MODULE
ROLE_ASSIGNMENTS = "Microsoft.Authorization/roleAssignments"
CONTAINERS = "Microsoft.Storage/storageAccounts/blobServices/containers"

# The roles main.bicep may grant, by role name (docs/deploy.md says why each).
EXPECTED_ROLES = {
    "StorageBlobDataOwner",  # app storage (host + work container) only
    "StorageQueueDataContributor",  # Durable task hub queues
    "StorageTableDataContributor",  # Durable task hub tables
    "StorageBlobDataReader",  # sources
    "StorageBlobDelegator",  # source accounts: user delegation key
    "StorageBlobDataContributor",  # sinks
    "KeyVaultSecretsUser",  # the app, on the vault
    "KeyVaultSecretsOfficer",  # the deployer, on the vault (to store the website token)
    "MonitoringMetricsPublisher",  # the app, on Application Insights
}


def _granted_roles(main: BicepFile, symbol: str | None = None) -> set[str]:
    """The built-in role names the role modules grant (all, or one module's), those of
    main.bicep and of the modules it deploys."""
    names: set[str] = set()

    def collect(node) -> None:
        if node.type == "object":
            role = object_entries(node).get("role")
            if role is not None and plain_string(role) is not None:
                names.add(plain_string(role) or "")
        for child in named_children(node):
            collect(child)

    for module in role_modules(main):
        if symbol in (None, module.symbol):
            for value in module.declared.params.values():
                collect(value)
    return names


def test_role_assignments_live_in_the_one_role_module():
    for path in sorted(INFRA.rglob("*.bicep")):
        assignments = BicepFile.read(path).resources_of_type(ROLE_ASSIGNMENTS)
        assert path == ROLES or not assignments, f"{path.name} assigns a role"


def test_role_assignments_are_scoped_to_single_resources_with_stable_names():
    roles = BicepFile.read(ROLES)
    assert roles.target_scope == "resourceGroup"
    declared = {resource.symbol: resource for resource in roles.resources}
    assignments = roles.resources_of_type(ROLE_ASSIGNMENTS)
    assert assignments
    for assignment in assignments:
        scope = assignment.body["scope"]
        target = scope.child_by_field_name("object") if scope.type == "subscript_expression" \
            else scope
        assert target is not None and text_of(target) in declared, (
            f"{assignment.symbol}: scope must be one resource, got {text_of(scope)}")
        assert declared[text_of(target)].existing
        assert declared[text_of(target)].target != "Microsoft.Resources/resourceGroups"
        name = assignment.body["name"]
        arguments = name.child_by_field_name("arguments")
        assert text_of(name).startswith("guid(") and arguments is not None
        first, second, *_ = (text_of(arg) for arg in named_children(arguments))
        assert (first, second) == (f"{text_of(scope)}.id", "principalId"), (
            f"{assignment.symbol}: name must be guid(scope, principal, role)")


def test_only_the_expected_roles_are_granted(main_bicep):
    granted = _granted_roles(main_bicep)
    assert granted == EXPECTED_ROLES
    built_in = object_entries(BicepFile.read(ROLES).variables["builtInRoles"])
    assert granted <= set(built_in), f"unknown role names: {granted - set(built_in)}"
    for role_id in built_in.values():
        assert len(plain_string(role_id) or "") == 36


def test_source_and_sink_roles_match_the_job(main_bicep):
    assert _granted_roles(main_bicep, "sourceRoles") == {"StorageBlobDataReader",
                                                         "StorageBlobDelegator"}
    # Contributor also covers the read grants on delivered folders: the app owns what it
    # created there, and an owner may change the ACLs of what it owns.
    assert _granted_roles(main_bicep, "sinkRoles") == {"StorageBlobDataContributor"}
    assert _granted_roles(main_bicep, "deployerRoles") == {"KeyVaultSecretsOfficer"}


def test_a_container_role_is_assigned_on_that_container(given):
    given = {**given, "sinkStorageAccountIds": account_id("labsmith", container="incoming")}
    (roles,) = [scope for symbol, scope in role_deployments(REPO_ROOT, given)
                if symbol == "sinkRoles"]
    (containers,) = roles.file.resources_of_type(CONTAINERS)
    assert containers.existing
    assert [body["name"] for body in roles.resource_bodies(containers)] == [
        "labsmith/default/incoming"]
    assigned = [(body["scope"], body["properties"])
                 for assignment in roles.file.resources_of_type(ROLE_ASSIGNMENTS)
                 for body in roles.resource_bodies(assignment)]
    # One assignment, on the container: Storage Blob Data Contributor, nothing account-wide.
    ((scope, properties),) = assigned
    assert scope == Unknown(f"{containers.symbol}[0]")
    assert isinstance(properties, dict) and str(properties["roleDefinitionId"]).endswith(
        "/ba92f5b4-2d11-453d-a403-e96b0029c9fe")


def test_azure_looks_up_the_deployers_kind_and_is_told_the_identitys(given):
    """The deployer may be a person, a group or a pipeline's service principal: its
    assignment names no principalType, so Azure looks the kind up (a fixed 'User' fails the
    assignment when a pipeline deploys). The app's identity, created in the same deployment,
    is named a ServicePrincipal: Azure then need not find it in a directory that may not have
    replicated it yet."""
    kinds: dict[str, set[object]] = {}
    for symbol, roles in role_deployments(REPO_ROOT, given):
        for assignment in roles.file.resources_of_type(ROLE_ASSIGNMENTS):
            for body in roles.resource_bodies(assignment):
                properties = body["properties"]
                assert isinstance(properties, dict)
                kinds.setdefault(symbol, set()).add(properties.get("principalType"))
    assert kinds.pop("deployerRoles") == {None}
    assert kinds and all(kind == {"ServicePrincipal"} for kind in kinds.values()), kinds


def test_the_parameters_file_fixes_no_principal_kind():
    parameters = (INFRA / "main.parameters.json").read_text(encoding="utf-8")
    assert "AZURE_PRINCIPAL_TYPE" not in parameters


def test_the_email_sender_role_name_is_unique_in_the_tenant(given):
    """A custom role's name must be unique in the whole tenant. The same environment deployed
    to two subscriptions of one tenant has the same resource group name (rg-<environment>):
    its two e-mail roles must still differ, and a re-deployment must find its own."""
    given = {**given, "notificationEmail": "ops@example.edu"}

    def role(subscription: str) -> tuple[object, object]:
        main = main_scope(REPO_ROOT, given, Deployment(subscription_id=subscription))
        (notifications,) = main.module_deployments("notifications")
        (definition,) = notifications.scope.file.resources_of_type(
            "Microsoft.Authorization/roleDefinitions")
        (body,) = notifications.scope.resource_bodies(definition)
        properties = body["properties"]
        assert isinstance(properties, dict)
        return properties["roleName"], body["name"]

    (name_a, id_a), (name_b, id_b) = role("sub-a"), role("sub-b")
    assert name_a != name_b and id_a != id_b
    assert role("sub-a") == (name_a, id_a)
