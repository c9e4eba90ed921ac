package com.connectedbbq.keycloak.attribute;

import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.keycloak.Config;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakSessionFactory;
import org.keycloak.models.RealmModel;
import org.keycloak.provider.ProviderConfigProperty;
import org.keycloak.provider.ProviderConfigurationBuilder;
import org.keycloak.services.resources.admin.AdminEventBuilder;
import org.keycloak.services.resources.admin.ext.AdminRealmResourceProvider;
import org.keycloak.services.resources.admin.ext.AdminRealmResourceProviderFactory;
import org.keycloak.services.resources.admin.fgap.AdminPermissionEvaluator;

/**
 * Registers {@code /admin/realms/{realm}/bbq}: an admin REST extension that writes one user attribute and
 * nothing else, and reads what idp-hook's reconciler needs in bulk (see {@link UserAttributeResource}). Which attributes it may write is configured with
 * {@code --spi-admin-realm-restapi-extension--bbq--attributes} (comma separated; default {@code tenant,tenant_role}:
 * the user's default tenant and their role in it, both mapped into tokens).
 */
public final class UserAttributeResourceProviderFactory implements AdminRealmResourceProviderFactory, AdminRealmResourceProvider {
    public static final String ID = "bbq";

    private Set<String> attributes = Set.of("tenant", "tenant_role");

    @Override
    public AdminRealmResourceProvider create(KeycloakSession session) {
        return this;
    }

    @Override
    public Object getResource(KeycloakSession session, RealmModel realm, AdminPermissionEvaluator auth, AdminEventBuilder adminEvent) {
        return new UserAttributeResource(session, realm, auth, adminEvent, attributes);
    }

    @Override
    public void init(Config.Scope scope) {
        String configured = scope.get("attributes");
        if (configured != null && !configured.isBlank()) {
            attributes = Arrays.stream(configured.split(",")).map(String::trim).filter(s -> !s.isEmpty())
                    .collect(Collectors.toUnmodifiableSet());
        }
    }

    @Override
    public void postInit(KeycloakSessionFactory factory) {
    }

    @Override
    public void close() {
    }

    @Override
    public String getId() {
        return ID;
    }

    @Override
    public List<ProviderConfigProperty> getConfigMetadata() {
        return ProviderConfigurationBuilder.create()
                .property().name("attributes").type("string")
                .helpText("User attributes that PUT users/{id}/attributes/{name} may write, comma separated")
                .defaultValue("tenant,tenant_role").add()
                .build();
    }
}
