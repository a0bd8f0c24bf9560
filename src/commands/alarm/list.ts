import type { AlarmResponse } from '../../client/index.js';
import { ClientCommand } from '../../cli/client-command.js';
import { jsonAlarm, simpleAlarms } from '../../cli/output.js';

export default class AlarmList extends ClientCommand<AlarmResponse> {
  static override summary = 'Lists all alarms';

  static override description =
    'Lists the alarms raised in the cluster, like etcdctl alarm list: one "memberID:<id> alarm:<NOSPACE|CORRUPT>" line each. NOSPACE means a member passed its --quota-backend-bytes: writes are refused until space is freed (compaction, defrag) and the alarm is disarmed.';

  static override examples = ['<%= config.bin %> <%= command.id %>'];

  async run(): Promise<AlarmResponse> {
    const { flags } = await this.parse(AlarmList);
    const client = await this.connect(flags);
    const resp = await client.alarmList();
    if (this.writeOut(flags) === 'json') this.printJson(resp);
    else this.write(Buffer.from(simpleAlarms(resp.alarms)));
    return resp;
  }

  protected jsonOf(result: AlarmResponse): string {
    return jsonAlarm(result);
  }
}
