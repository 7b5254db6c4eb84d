import { Link, Navigate, Route, Routes } from "react-router";
import { Layout } from "./components/Layout";
import { RequireAuth } from "./components/RequireAuth";
import { CostsPage } from "./pages/CostsPage";
import { EndpointDetailPage } from "./pages/EndpointDetailPage";
import { EndpointNewPage } from "./pages/EndpointNewPage";
import { EndpointsPage } from "./pages/EndpointsPage";
import { InventoryPage } from "./pages/InventoryPage";
import { JobDetailPage } from "./pages/JobDetailPage";
import { JobNewPage } from "./pages/JobNewPage";
import { JobsPage } from "./pages/JobsPage";
import { LoginPage } from "./pages/LoginPage";
import { ModelDetailPage, ModelVersionRedirect } from "./pages/ModelDetailPage";
import { ModelsPage } from "./pages/ModelsPage";
import { NodePage } from "./pages/NodePage";
import { PlannerPage } from "./pages/PlannerPage";
import { QueuePage } from "./pages/QueuePage";
import { IdleGpusPage } from "./pages/IdleGpusPage";
import { QuotasPage } from "./pages/QuotasPage";
import { TokensPage } from "./pages/TokensPage";

function NotFound() {
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        Nothing lives here. <Link to="/jobs">Go to jobs</Link>.
      </p>
    </section>
  );
}

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route element={<RequireAuth />}>
        <Route element={<Layout />}>
          <Route index element={<Navigate to="/jobs" replace />} />
          <Route path="/jobs" element={<JobsPage />} />
          <Route path="/jobs/new" element={<JobNewPage />} />
          <Route path="/jobs/:id" element={<JobDetailPage />} />
          <Route path="/models" element={<ModelsPage />} />
          <Route path="/models/:id" element={<ModelDetailPage />} />
          <Route path="/model-versions/:id" element={<ModelVersionRedirect />} />
          <Route path="/endpoints" element={<EndpointsPage />} />
          <Route path="/endpoints/new" element={<EndpointNewPage />} />
          <Route path="/endpoints/:id" element={<EndpointDetailPage />} />
          <Route path="/queue" element={<QueuePage />} />
          <Route path="/quotas" element={<QuotasPage />} />
          <Route path="/costs" element={<CostsPage />} />
          <Route path="/inventory" element={<InventoryPage />} />
          <Route path="/nodes/:id" element={<NodePage />} />
          <Route path="/idle-gpus" element={<IdleGpusPage />} />
          <Route path="/planner" element={<PlannerPage />} />
          <Route path="/tokens" element={<TokensPage />} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Route>
    </Routes>
  );
}
