// Every word the console shows, in one catalogue: Brazilian Portuguese
// (the default: the people who bind customers work in it) and English.
// Messages that come from the API (a refusal's reason) are shown as the
// API words them.

const CATALOGUE = {
  'pt-BR': {
    skip: 'Pular para o conteúdo', lang: 'Idioma', signout: 'Sair', loading: 'Carregando…', working: 'Aguarde…',
    save: 'Salvar', cancel: 'Cancelar', required: 'Preencha este campo.', yes: 'sim', no: 'não', never: 'nunca',
    legend: 'Legenda', occupancy: '{taken} de {total} portas ocupadas',
    'nav.integrations': 'Integrações', 'nav.network': 'Rede', 'nav.services': 'Serviços', 'nav.matches': 'Correspondências',
    'signin.title': 'Entrar no mapsync', 'signin.token': 'Token da API', 'signin.submit': 'Entrar',
    'signin.hint': 'Use o token da API que o mapsync serve mostrou ao iniciar (ou o de MAPSYNC_API_TOKEN). Ele fica guardado só nesta aba.',
    'signin.empty': 'Informe o token da API.', 'signin.refused': 'Token recusado: confira se é o token deste mapsync.',
    'signin.expired': 'A sessão terminou: o token não é mais aceito. Entre de novo.',
    'error.title': 'Não foi possível abrir esta tela', 'error.network': 'Sem resposta do mapsync: verifique se o serviço está no ar.',
    'error.status': 'O mapsync respondeu com o erro {status}.', 'error.noScreen': 'Esta tela não existe.',
    'integrations.title': 'Integrações', 'integrations.add': 'Adicionar integração', 'integrations.new': 'Nova integração',
    'integrations.newHint': 'Uma conta da plataforma de mapeamento (OZmap). Os campos com * são obrigatórios.',
    'integrations.none': 'Nenhuma integração ainda: adicione a primeira.', 'integrations.lastRun': 'Última sincronização',
    'integrations.nextRun': 'Próxima sincronização', 'integrations.added': 'Integração {name} adicionada.',
    'integration.name': 'Nome', 'integration.project': 'Projeto local', 'integration.api_url': 'Endereço da API',
    'integration.api_key': 'Chave de API', 'integration.user': 'Usuário', 'integration.password': 'Senha',
    'integration.project_name': 'Projeto no OZmap', 'integration.sync_time': 'Horário diário', 'integration.kinds': 'Sincroniza',
    'integration.unlinked': 'sem projeto', 'integration.notPlanned': 'não agendada (sem projeto)', 'integration.account': 'Conta',
    'integration.allProjects': 'todos os projetos', 'integration.edit': 'Editar a integração', 'integration.keep': '(manter a atual)',
    'hint.name': 'Um nome curto para reconhecer esta conta, ex.: ozmap-matriz.',
    'hint.api_url': 'O endereço da API do OZmap da sua empresa, ex.: https://suaempresa.ozmap.com.br.',
    'hint.api_key': 'A chave criada no OZmap em Configurações > Chaves de API.',
    'hint.user': 'O usuário do OZmap que a integração usa.', 'hint.password': 'A senha desse usuário. Nunca é mostrada de volta.',
    'hint.project_name': 'Opcional: o nome exato de um projeto do OZmap para sincronizar só ele (os postes vêm de todos).',
    'hint.sync_time': 'HH:MM, horário de Brasília (America/Sao_Paulo).',
    'edit.nothing': 'Nada mudou.', 'edit.saved': 'Alterações salvas.',
    'test.run': 'Testar conexão', 'test.running': 'Testando…', 'test.ok': 'Conexão funcionando.', 'test.failed': 'A conexão falhou.',
    'test.step.reach the platform': 'Alcançar a plataforma', 'test.step.authenticate': 'Autenticar', 'test.step.read one row': 'Ler um registro',
    'link.feeds': 'Esta integração alimenta o projeto', 'link.removeHint': 'Para remover a integração, use a tela do projeto em',
    'link.hint': 'Cada integração alimenta um projeto de mapeamento local. Ela só sincroniza depois de vinculada.',
    'link.project': 'Projeto', 'link.newProject': 'Criar um projeto novo', 'link.newName': 'Nome do projeto novo',
    'link.newHint': 'Um nome que ainda não exista.', 'link.submit': 'Vincular', 'link.done': 'Integração vinculada ao projeto.',
    'sync.title': 'Sincronização', 'sync.now': 'Sincronizar agora', 'sync.full': 'Leitura completa (tudo, não só o que mudou)',
    'sync.needsProject': 'Vincule a integração a um projeto para sincronizar.', 'sync.starting': 'Iniciando…',
    'sync.reading': 'Lendo {kind}…', 'sync.read': '{count} elementos lidos em {pages} páginas.', 'sync.details': 'ver detalhes',
    'sync.alreadyRunning': 'Uma sincronização desta integração já estava em andamento; acompanhando-a.',
    'runs.title': 'Histórico de sincronizações', 'runs.none': 'Nenhuma sincronização ainda.',
    'run.title': 'Sincronização {id}', 'run.started': 'Início', 'run.ended': 'Fim', 'run.trigger': 'Origem', 'run.outcome': 'Resultado',
    'run.read': 'Alterações', 'run.kind': 'Tipo', 'run.reason': 'Motivo', 'run.error': 'Erro', 'run.full': 'Leitura completa',
    'run.created': 'Criados', 'run.updated': 'Atualizados', 'run.removed': 'Removidos', 'run.unchanged': 'Sem mudança',
    'run.kept': 'Mantidos', 'run.invalid': 'Inválidos', 'run.noCounts': 'Sem contagens.',
    'run.summary': '+{created} ~{updated} −{removed}, {invalid} inválidos', 'run.held': 'Remoções retidas pela proteção',
    'run.invalidTitle': 'Registros inválidos ({count})', 'run.noInvalid': 'Nenhum registro inválido.',
    'run.running': 'em andamento', 'run.succeeded': 'concluída', 'run.failed': 'falhou', 'run.interrupted': 'interrompida',
    'trigger.api': 'console/API', 'trigger.schedule': 'agendada', 'trigger.catch-up': 'recuperação', 'trigger.manual': 'linha de comando', 'trigger.demo': 'demonstração',
    'kind.project': 'projetos', 'kind.pole': 'postes', 'kind.box': 'caixas', 'kind.splitter': 'splitters', 'kind.client': 'clientes', 'kind.property': 'imóveis',
    'network.title': 'Rede', 'projects.title': 'Projetos locais', 'projects.name': 'Projeto', 'projects.integration': 'Integração',
    'projects.unsynchronised': 'Elementos não mais sincronizados', 'projects.noIntegration': 'nenhuma', 'projects.none': 'Nenhum projeto ainda.',
    'projects.remove': 'Remover integração', 'projects.removeConfirm': 'Confirmar: parar de sincronizar {integration}',
    'projects.removed': 'Integração {integration} removida do projeto.', 'projects.create': 'Criar projeto',
    'projects.newName': 'Novo projeto', 'projects.created': 'Projeto {name} criado.',
    'boxes.title': 'Caixas (CTOs)', 'boxes.byName': 'Nome da caixa', 'boxes.byNameHint': 'Parte do nome, ex.: CTO-01.',
    'boxes.lat': 'Latitude', 'boxes.lng': 'Longitude', 'boxes.radius': 'Raio (m)', 'boxes.search': 'Buscar',
    'boxes.needCriteria': 'Informe um nome ou um ponto (latitude e longitude).', 'boxes.needBoth': 'Informe latitude e longitude.',
    'boxes.found': '{count} caixas encontradas.', 'boxes.limited': 'Mostrando as {limit} primeiras.', 'boxes.none': 'Nenhuma caixa encontrada.',
    'boxes.name': 'Caixa', 'boxes.integration': 'Integração', 'boxes.position': 'Posição', 'boxes.distance': 'Distância',
    'box.title': 'Caixa {name}', 'box.implanted': 'Implantada', 'box.occupancy': 'Ocupação (splitters de atendimento)',
    'box.noSplitters': 'Esta caixa não tem splitters.',
    'splitter.service': 'atendimento', 'splitter.distribution': 'distribuição',
    'splitter.notOffered': 'Splitter de distribuição: suas portas não são oferecidas para clientes.',
    'port.number': 'Porta {port}', 'port.free': 'livre', 'port.taken': 'ocupada', 'port.blocked': 'bloqueada',
    'port.pending': 'pendente', 'port.confirmed': 'confirmada, enviando', 'port.failed': 'falhou',
    'bind.title': 'Vincular a porta {port} de {splitter}', 'bind.service': 'Serviço (id_cliente_servico)',
    'bind.serviceHint': 'O serviço do cliente no sistema de gestão.', 'bind.submit': 'Vincular',
    'bind.done': 'Serviço {service} vinculado: pendente de confirmação.', 'bind.choose': 'Vincular a uma porta',
    'bind.again': 'Escolher outra porta', 'bind.radius': 'Caixas viáveis em até',
    'bind.near': 'a {distance} m, {free} portas livres', 'bind.noneNear': 'Nenhuma caixa com porta livre neste raio.',
    'bind.noPosition': 'O serviço não tem coordenadas: busque a caixa pelo nome.',
    'services.title': 'Serviços', 'services.list': 'Serviços importados', 'services.search': 'Buscar serviços',
    'services.searchHint': 'id, nome, login PPPoE, serial da ONU ou documento', 'services.count': '{shown} de {total} serviços.',
    'services.none': 'Nenhum serviço.',
    'import.title': 'Importar serviços', 'import.file': 'Arquivo CSV (ou JSON) exportado do sistema de gestão',
    'import.hint': 'Colunas: id_cliente_servico (obrigatória), name, document, address, lat, lng, pppoe_login, onu_serial, onu_mac, status. Se alguma linha tiver erro, nada é importado.',
    'import.submit': 'Importar', 'import.choose': 'Escolha um arquivo.', 'import.refused': 'Arquivo recusado: nada foi importado. Corrija estas linhas:',
    'import.line': 'Linha {line}:', 'import.done': 'Importado: {created} criados, {updated} atualizados, {unchanged} sem mudança.',
    'import.toast': 'Serviços importados.',
    'service.title': 'Serviço {id}', 'service.data': 'Dados do serviço', 'service.name': 'Nome', 'service.document': 'CPF/CNPJ',
    'service.address': 'Endereço', 'service.pppoe_login': 'Login PPPoE', 'service.onu_serial': 'Serial da ONU', 'service.onu_mac': 'MAC da ONU',
    'service.status': 'Situação', 'service.platform': 'Cliente na plataforma', 'service.identified': 'identificado',
    'service.notIdentified': 'não identificado', 'service.binding': 'Vínculo',
    'binding.none': 'Sem vínculo: escolha uma porta abaixo.', 'binding.box': 'Caixa', 'binding.splitter': 'Splitter', 'binding.port': 'Porta',
    'binding.reason': 'Motivo', 'binding.client': 'Cliente na plataforma', 'binding.property': 'Imóvel na plataforma', 'binding.updated': 'Atualizado',
    'binding.confirm': 'Confirmar e enviar', 'binding.retry': 'Enviar agora', 'binding.unbind': 'Desvincular',
    'binding.unbindConfirm': 'Confirmar desvínculo', 'binding.unbound': 'Vínculo removido.',
    'binding.unbindQueued': 'Desvinculado aqui; a remoção na plataforma será tentada de novo.',
    'binding.pending': 'pendente', 'binding.confirmed': 'confirmado, envio na fila', 'binding.pushed': 'enviado à plataforma',
    'binding.failed': 'falhou', 'binding.from-platform': 'identificado na plataforma',
    'push.pushed': 'Enviado: a plataforma recebeu os dados do cliente.', 'push.failed': 'A plataforma recusou o envio:',
    'push.queued': 'A plataforma não respondeu; o envio ficou na fila e será tentado de novo.',
    'history.title': 'Histórico do vínculo',
    'matches.title': 'Correspondências', 'matches.none': 'Nenhuma sugestão no momento.', 'matches.accept': 'Aceitar',
    'matches.reject': 'Rejeitar', 'matches.score': 'Pontuação', 'matches.scoreIs': 'pontuação {score}%',
    'matches.accepted': 'Aceita: vínculo criado e dados enviados.', 'matches.rejected': 'Rejeitada: não será sugerida de novo.',
    'identification.identified': 'clientes identificados pelo código', 'identification.clients_without_code': 'clientes da plataforma sem código',
    'identification.codes_without_service': 'códigos sem serviço correspondente', 'identification.services_without_client': 'serviços sem cliente na plataforma',
    'map.label': 'Mapa com {count} caixas', 'map.point': 'posição do serviço',
  },
  en: {
    skip: 'Skip to content', lang: 'Language', signout: 'Sign out', loading: 'Loading…', working: 'Working…',
    save: 'Save', cancel: 'Cancel', required: 'Fill in this field.', yes: 'yes', no: 'no', never: 'never',
    legend: 'Legend', occupancy: '{taken} of {total} ports taken',
    'nav.integrations': 'Integrations', 'nav.network': 'Network', 'nav.services': 'Services', 'nav.matches': 'Matches',
    'signin.title': 'Sign in to mapsync', 'signin.token': 'API token', 'signin.submit': 'Sign in',
    'signin.hint': 'Use the API token mapsync serve printed when it started (or MAPSYNC_API_TOKEN). It is kept for this tab only.',
    'signin.empty': 'Enter the API token.', 'signin.refused': 'Token refused: check it is this mapsync\'s token.',
    'signin.expired': 'The session ended: the token is no longer accepted. Sign in again.',
    'error.title': 'This screen could not be opened', 'error.network': 'No answer from mapsync: check the service is running.',
    'error.status': 'mapsync answered with error {status}.', 'error.noScreen': 'There is no such screen.',
    'integrations.title': 'Integrations', 'integrations.add': 'Add integration', 'integrations.new': 'New integration',
    'integrations.newHint': 'An account of the mapping platform (OZmap). Fields marked * are required.',
    'integrations.none': 'No integration yet: add the first.', 'integrations.lastRun': 'Last sync',
    'integrations.nextRun': 'Next sync', 'integrations.added': 'Integration {name} added.',
    'integration.name': 'Name', 'integration.project': 'Local project', 'integration.api_url': 'API address',
    'integration.api_key': 'API key', 'integration.user': 'User', 'integration.password': 'Password',
    'integration.project_name': 'OZmap project', 'integration.sync_time': 'Daily time', 'integration.kinds': 'Synchronises',
    'integration.unlinked': 'no project', 'integration.notPlanned': 'not planned (no project)', 'integration.account': 'Account',
    'integration.allProjects': 'every project', 'integration.edit': 'Edit the integration', 'integration.keep': '(keep the current one)',
    'hint.name': 'A short name to know this account by, e.g. ozmap-main.',
    'hint.api_url': 'Your company\'s OZmap API address, e.g. https://yourcompany.ozmap.com.br.',
    'hint.api_key': 'The key created in OZmap under Settings > API keys.',
    'hint.user': 'The OZmap user the integration signs in as.', 'hint.password': 'That user\'s password. Never shown back.',
    'hint.project_name': 'Optional: the exact name of one OZmap project to synchronise only it (poles come from all).',
    'hint.sync_time': 'HH:MM, Brasília time (America/Sao_Paulo).',
    'edit.nothing': 'Nothing changed.', 'edit.saved': 'Changes saved.',
    'test.run': 'Test connection', 'test.running': 'Testing…', 'test.ok': 'The connection works.', 'test.failed': 'The connection failed.',
    'test.step.reach the platform': 'Reach the platform', 'test.step.authenticate': 'Authenticate', 'test.step.read one row': 'Read one row',
    'link.feeds': 'This integration feeds the project', 'link.removeHint': 'To remove the integration, use the project\'s screen in',
    'link.hint': 'Each integration feeds one local mapping project. It synchronises only once linked.',
    'link.project': 'Project', 'link.newProject': 'Create a new project', 'link.newName': 'New project\'s name',
    'link.newHint': 'A name not taken yet.', 'link.submit': 'Link', 'link.done': 'Integration linked to the project.',
    'sync.title': 'Synchronisation', 'sync.now': 'Sync now', 'sync.full': 'Full read (everything, not only what changed)',
    'sync.needsProject': 'Link the integration to a project to synchronise it.', 'sync.starting': 'Starting…',
    'sync.reading': 'Reading {kind}…', 'sync.read': '{count} elements read in {pages} pages.', 'sync.details': 'see details',
    'sync.alreadyRunning': 'A sync of this integration was already running; following it.',
    'runs.title': 'Sync history', 'runs.none': 'No sync yet.',
    'run.title': 'Sync {id}', 'run.started': 'Started', 'run.ended': 'Ended', 'run.trigger': 'Trigger', 'run.outcome': 'Outcome',
    'run.read': 'Changes', 'run.kind': 'Kind', 'run.reason': 'Reason', 'run.error': 'Error', 'run.full': 'Full read',
    'run.created': 'Created', 'run.updated': 'Updated', 'run.removed': 'Removed', 'run.unchanged': 'Unchanged',
    'run.kept': 'Kept', 'run.invalid': 'Invalid', 'run.noCounts': 'No counts.',
    'run.summary': '+{created} ~{updated} −{removed}, {invalid} invalid', 'run.held': 'Removals held by the guard',
    'run.invalidTitle': 'Invalid records ({count})', 'run.noInvalid': 'No invalid record.',
    'run.running': 'running', 'run.succeeded': 'succeeded', 'run.failed': 'failed', 'run.interrupted': 'interrupted',
    'trigger.api': 'console/API', 'trigger.schedule': 'scheduled', 'trigger.catch-up': 'catch-up', 'trigger.manual': 'command line', 'trigger.demo': 'demo',
    'kind.project': 'projects', 'kind.pole': 'poles', 'kind.box': 'boxes', 'kind.splitter': 'splitters', 'kind.client': 'clients', 'kind.property': 'properties',
    'network.title': 'Network', 'projects.title': 'Local projects', 'projects.name': 'Project', 'projects.integration': 'Integration',
    'projects.unsynchronised': 'Elements no longer synchronised', 'projects.noIntegration': 'none', 'projects.none': 'No project yet.',
    'projects.remove': 'Remove integration', 'projects.removeConfirm': 'Confirm: stop synchronising {integration}',
    'projects.removed': 'Integration {integration} removed from the project.', 'projects.create': 'Create project',
    'projects.newName': 'New project', 'projects.created': 'Project {name} created.',
    'boxes.title': 'Boxes (CTOs)', 'boxes.byName': 'Box name', 'boxes.byNameHint': 'Part of the name, e.g. CTO-01.',
    'boxes.lat': 'Latitude', 'boxes.lng': 'Longitude', 'boxes.radius': 'Radius (m)', 'boxes.search': 'Search',
    'boxes.needCriteria': 'Give a name or a point (latitude and longitude).', 'boxes.needBoth': 'Give both latitude and longitude.',
    'boxes.found': '{count} boxes found.', 'boxes.limited': 'Showing the first {limit}.', 'boxes.none': 'No box found.',
    'boxes.name': 'Box', 'boxes.integration': 'Integration', 'boxes.position': 'Position', 'boxes.distance': 'Distance',
    'box.title': 'Box {name}', 'box.implanted': 'Implanted', 'box.occupancy': 'Occupancy (service splitters)',
    'box.noSplitters': 'This box has no splitter.',
    'splitter.service': 'service', 'splitter.distribution': 'distribution',
    'splitter.notOffered': 'Distribution splitter: its ports are never offered to customers.',
    'port.number': 'Port {port}', 'port.free': 'free', 'port.taken': 'taken', 'port.blocked': 'blocked',
    'port.pending': 'pending', 'port.confirmed': 'confirmed, pushing', 'port.failed': 'failed',
    'bind.title': 'Bind port {port} of {splitter}', 'bind.service': 'Service (id_cliente_servico)',
    'bind.serviceHint': 'The customer\'s service in the management system.', 'bind.submit': 'Bind',
    'bind.done': 'Service {service} bound: waiting for confirmation.', 'bind.choose': 'Bind to a port',
    'bind.again': 'Choose another port', 'bind.radius': 'Viable boxes within',
    'bind.near': '{distance} m away, {free} free ports', 'bind.noneNear': 'No box with a free port within this radius.',
    'bind.noPosition': 'The service has no coordinates: find the box by name.',
    'services.title': 'Services', 'services.list': 'Imported services', 'services.search': 'Search services',
    'services.searchHint': 'id, name, PPPoE login, ONU serial or document', 'services.count': '{shown} of {total} services.',
    'services.none': 'No service.',
    'import.title': 'Import services', 'import.file': 'CSV (or JSON) file exported from the management system',
    'import.hint': 'Columns: id_cliente_servico (required), name, document, address, lat, lng, pppoe_login, onu_serial, onu_mac, status. If any line is wrong, nothing is imported.',
    'import.submit': 'Import', 'import.choose': 'Choose a file.', 'import.refused': 'File refused: nothing was imported. Fix these lines:',
    'import.line': 'Line {line}:', 'import.done': 'Imported: {created} created, {updated} updated, {unchanged} unchanged.',
    'import.toast': 'Services imported.',
    'service.title': 'Service {id}', 'service.data': 'Service data', 'service.name': 'Name', 'service.document': 'CPF/CNPJ',
    'service.address': 'Address', 'service.pppoe_login': 'PPPoE login', 'service.onu_serial': 'ONU serial', 'service.onu_mac': 'ONU MAC',
    'service.status': 'Status', 'service.platform': 'Platform client', 'service.identified': 'identified',
    'service.notIdentified': 'not identified', 'service.binding': 'Binding',
    'binding.none': 'No binding: choose a port below.', 'binding.box': 'Box', 'binding.splitter': 'Splitter', 'binding.port': 'Port',
    'binding.reason': 'Reason', 'binding.client': 'Platform client', 'binding.property': 'Platform property', 'binding.updated': 'Updated',
    'binding.confirm': 'Confirm and push', 'binding.retry': 'Push now', 'binding.unbind': 'Unbind',
    'binding.unbindConfirm': 'Confirm unbinding', 'binding.unbound': 'Binding removed.',
    'binding.unbindQueued': 'Unbound here; removing it on the platform will be retried.',
    'binding.pending': 'pending', 'binding.confirmed': 'confirmed, push queued', 'binding.pushed': 'pushed to the platform',
    'binding.failed': 'failed', 'binding.from-platform': 'identified on the platform',
    'push.pushed': 'Pushed: the platform took the customer\'s data.', 'push.failed': 'The platform refused the push:',
    'push.queued': 'The platform did not answer; the push waits in the queue and will be retried.',
    'history.title': 'Binding history',
    'matches.title': 'Matches', 'matches.none': 'No suggestion for now.', 'matches.accept': 'Accept',
    'matches.reject': 'Reject', 'matches.score': 'Score', 'matches.scoreIs': 'score {score}%',
    'matches.accepted': 'Accepted: bound and data pushed.', 'matches.rejected': 'Rejected: never suggested again.',
    'identification.identified': 'clients identified by their code', 'identification.clients_without_code': 'platform clients without code',
    'identification.codes_without_service': 'codes matching no service', 'identification.services_without_client': 'services without platform client',
    'map.label': 'Map of {count} boxes', 'map.point': 'the service\'s position',
  },
};

const KEY = 'mapsync.language';
const DEFAULT = 'pt-BR';

export function language() {
  const chosen = localStorage.getItem(KEY);
  return chosen && CATALOGUE[chosen] ? chosen : DEFAULT;
}

export function setLanguage(code) {
  localStorage.setItem(KEY, CATALOGUE[code] ? code : DEFAULT);
}

/** The words for `key`, with `{name}` filled from `values`; `fallback`
 * (else the key) when the catalogue has none, e.g. a state the API added. */
export function t(key, values = {}, fallback) {
  const words = CATALOGUE[language()][key] ?? CATALOGUE[DEFAULT][key] ?? fallback ?? key;
  return words.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

export const number = (n) => new Intl.NumberFormat(language()).format(n);

/** An instant in Brasília time, as the schedule speaks of it. */
export function when(iso) {
  if (!iso) return '';
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  return new Intl.DateTimeFormat(language(), {
    dateStyle: 'short', timeStyle: 'medium', timeZone: 'America/Sao_Paulo',
  }).format(at);
}

/** The page's fixed words (`data-t`) in the chosen language. */
export function translatePage() {
  document.documentElement.lang = language();
  for (const node of document.querySelectorAll('[data-t]')) node.textContent = t(node.dataset.t);
  document.getElementById('nav').setAttribute('aria-label', language() === 'en' ? 'Main' : 'Principal');
}

/** Every key of every language, for the console's own checks. */
export const keys = (code) => Object.keys(CATALOGUE[code]);
